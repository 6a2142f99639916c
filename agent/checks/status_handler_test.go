package checks

import (
	"reflect"
	"strings"
	"testing"

	"github.com/meridian-sd/meridian/structs"
)

const (
	pass = structs.HealthPassing
	warn = structs.HealthWarning
	crit = structs.HealthCritical
)

func TestStatusHandler(t *testing.T) {
	tests := []struct {
		name string
		t    Thresholds
		in   []string // statuses from the runner
		want []string // statuses forwarded, "" where nothing is
	}{
		{
			name: "zero thresholds forward everything",
			in:   []string{pass, crit, warn, crit, pass},
			want: []string{pass, crit, warn, crit, pass},
		},
		{
			name: "first result forwarded at once",
			t:    Thresholds{SuccessBeforePassing: 3, FailuresBeforeCritical: 3},
			in:   []string{crit},
			want: []string{crit},
		},
		{
			name: "first passing forwarded at once",
			t:    Thresholds{SuccessBeforePassing: 3, FailuresBeforeCritical: 3},
			in:   []string{pass},
			want: []string{pass},
		},
		{
			name: "success before passing",
			t:    Thresholds{SuccessBeforePassing: 2},
			in:   []string{crit, pass, pass, pass, crit, pass, pass},
			want: []string{crit, "", pass, pass, crit, "", pass},
		},
		{
			name: "failures before critical",
			t:    Thresholds{FailuresBeforeCritical: 3},
			in:   []string{pass, crit, crit, crit, crit, pass, crit, crit, crit},
			want: []string{pass, "", "", crit, crit, pass, "", "", crit},
		},
		{
			name: "a success resets the failure count",
			t:    Thresholds{FailuresBeforeCritical: 2},
			in:   []string{pass, crit, pass, crit, pass, crit, crit},
			want: []string{pass, "", pass, "", pass, "", crit},
		},
		{
			name: "a failure resets the success count",
			t:    Thresholds{SuccessBeforePassing: 2},
			in:   []string{crit, pass, crit, pass, pass},
			want: []string{crit, "", crit, "", pass},
		},
		{
			// Consul counts warning with passing: it resets failures and
			// needs SuccessBeforePassing in a row like passing does.
			name: "warning counts as success",
			t:    Thresholds{SuccessBeforePassing: 2, FailuresBeforeCritical: 2},
			in:   []string{pass, crit, warn, crit, warn, warn, crit, crit},
			want: []string{pass, "", "", "", "", warn, "", crit},
		},
		{
			name: "failures before warning",
			t:    Thresholds{FailuresBeforeWarning: 1, FailuresBeforeCritical: 3},
			in:   []string{pass, crit, crit, crit, pass},
			want: []string{pass, warn, warn, crit, pass},
		},
		{
			name: "both thresholds",
			t:    Thresholds{SuccessBeforePassing: 2, FailuresBeforeWarning: 2, FailuresBeforeCritical: 4},
			in:   []string{pass, crit, crit, crit, crit, crit, pass, pass},
			want: []string{pass, "", warn, warn, crit, crit, "", pass},
		},
		{
			name: "long runs do not overflow the held-back count",
			t:    Thresholds{SuccessBeforePassing: 2},
			in:   []string{pass, pass, pass, pass, crit, pass, pass},
			want: []string{pass, pass, pass, pass, crit, "", pass},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.t.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			rec := &recorder{}
			h := NewStatusHandler(rec, tt.t)
			var got []string
			for i, status := range tt.in {
				before := rec.count()
				h.UpdateCheck("web", status, "out"+string(rune('0'+i)))
				switch after := rec.all(); len(after) - before {
				case 0:
					got = append(got, "")
				case 1:
					u := after[len(after)-1]
					if u.CheckID != "web" || u.Output != "out"+string(rune('0'+i)) {
						t.Errorf("step %d forwarded %+v, want check web with the step's output", i, u)
					}
					got = append(got, u.Status)
				default:
					t.Fatalf("step %d forwarded %d updates", i, len(after)-before)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("forwarded\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestThresholdsValidate(t *testing.T) {
	tests := []struct {
		t    Thresholds
		want string
	}{
		{Thresholds{}, ""},
		{Thresholds{SuccessBeforePassing: 1, FailuresBeforeWarning: 2, FailuresBeforeCritical: 3}, ""},
		{Thresholds{SuccessBeforePassing: -1}, "success_before_passing -1 must not be negative"},
		{Thresholds{FailuresBeforeCritical: -2}, "failures_before_critical -2 must not be negative"},
		{Thresholds{FailuresBeforeWarning: -1}, "failures_before_warning -1 must not be negative"},
		{Thresholds{FailuresBeforeWarning: 3, FailuresBeforeCritical: 2}, "must not exceed failures_before_critical 2"},
	}
	for _, tt := range tests {
		err := tt.t.Validate()
		if tt.want == "" {
			if err != nil {
				t.Errorf("%+v: Validate() = %v, want nil", tt.t, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: Validate() = %v, want an error containing %q", tt.t, err, tt.want)
		}
	}
}
