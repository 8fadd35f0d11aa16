package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestServeConsoleDevAdmin: embedded mode with no auth.users makes up a
// development admin, prints its password at start, and that password
// signs in to the console.
func TestServeConsoleDevAdmin(t *testing.T) {
	_, admin, logs := serveInProcess(t, map[string]string{})
	waitFor(t, admin+"/readyz", 200, nil, logs)
	m := regexp.MustCompile(`console development admin: admin@localhost  password: (\S+)`).FindStringSubmatch(logs.String())
	if m == nil || !strings.Contains(logs.String(), "console:              "+admin+"/console/") {
		t.Fatalf("no console or development admin in the banner:\n%s", logs.String())
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login := func(password string) *http.Response {
		t.Helper()
		resp, err := client.PostForm(admin+"/console/login", url.Values{"email": {"admin@localhost"}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := login("not the password"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", resp.StatusCode)
	}
	resp := login(m[1])
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("login with the printed password: %d %v", resp.StatusCode, resp.Header)
	}
	req, _ := http.NewRequest("GET", admin+"/console/users", nil)
	req.AddCookie(resp.Cookies()[0])
	page, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.StatusCode != 200 {
		t.Errorf("GET /console/users as the development admin: %d", page.StatusCode)
	}
}
