package agent

import (
	"context"
	"net/http"
	"net/url"
)

// reqState is what the HTTP layer works out once per request and every
// step after reads: the parsed query string (each read of
// req.URL.Query() parses it anew, and a request passes through a dozen
// of them) and the ACL token its RPCs carry. wrap puts it in the
// request's context (withState); aclGuard fills the token (withToken).
type reqState struct {
	query url.Values
	// token is the request's ACL token once tokenSet; tokenFromContext
	// gives it to every RPC args that carries none.
	token    string
	tokenSet bool
}

type reqStateKey struct{}

// withState returns req with a fresh reqState in its context.
func withState(req *http.Request) *http.Request {
	st := &reqState{query: req.URL.Query()}
	return req.WithContext(context.WithValue(req.Context(), reqStateKey{}, st))
}

// stateOf is req's reqState, nil outside wrap.
func stateOf(req *http.Request) *reqState {
	st, _ := req.Context().Value(reqStateKey{}).(*reqState)
	return st
}

// reqQuery is req's query parameters, parsed once per request. Callers must
// not change what it returns.
func reqQuery(req *http.Request) url.Values {
	if st := stateOf(req); st != nil {
		return st.query
	}
	return req.URL.Query()
}

// withRequestToken makes token the one req's RPCs carry: in its reqState when it
// has one (no copy of the request), else in a new context.
func withRequestToken(req *http.Request, token string) *http.Request {
	if st := stateOf(req); st != nil {
		st.token, st.tokenSet = token, true
		return req
	}
	return req.WithContext(contextWithToken(req.Context(), token))
}
