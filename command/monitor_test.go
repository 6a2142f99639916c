package command

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/agent"
)

func TestMonitorStreamsLogs(t *testing.T) {
	a := agent.StartTestAgent(t, "-server", "-bootstrap")
	ui := cli.NewMockUi()
	stop := make(chan struct{})
	cmd := &MonitorCommand{UI: ui, ShutdownCh: stop}
	done := make(chan int, 1)
	go func() { done <- cmd.Run([]string{"-http-addr=" + a.HTTPAddr, "-log-level=info"}) }()

	// A reload logs at info; keep triggering until the line shows up, as
	// the monitor may attach after the first one.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(ui.OutputWriter.String(), "configuration reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("monitor output has no reload line: %q", ui.OutputWriter.String())
		}
		if err := a.Client.Agent().Reload(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, ui.ErrorWriter.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("monitor did not stop")
	}
}

func TestMonitorBadInput(t *testing.T) {
	a := agent.StartTestAgent(t, "-server", "-bootstrap")
	for _, args := range [][]string{
		{"-http-addr=" + a.HTTPAddr, "-log-level=loud"},
		{"-http-addr=" + a.HTTPAddr, "extra"},
		{"-nope"},
	} {
		ui := cli.NewMockUi()
		if code := (&MonitorCommand{UI: ui, ShutdownCh: make(chan struct{})}).Run(args); code != 1 {
			t.Errorf("%v: exit %d, want 1", args, code)
		}
		if msg := ui.ErrorWriter.String(); !strings.HasPrefix(msg, "Error") {
			t.Errorf("%v: stderr %q", args, msg)
		}
	}
}
