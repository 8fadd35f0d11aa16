package deploy

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// instruction is one Dockerfile instruction with its continuation lines
// joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, ...
	Args string
}

// parseDockerfile splits a Dockerfile into instructions. It knows what this
// repository's Dockerfile uses: comments, blank lines and backslash
// continuations.
func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out  []instruction
		cont strings.Builder
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if rest, ok := strings.CutSuffix(line, `\`); ok {
			cont.WriteString(rest + " ")
			continue
		}
		cont.WriteString(line)
		full := cont.String()
		cont.Reset()
		cmd, args, _ := strings.Cut(full, " ")
		out = append(out, instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cont.Len() > 0 {
		t.Fatalf("%s ends in a continuation line", path)
	}
	return out
}

// stages splits instructions at each FROM.
func stages(ins []instruction) [][]instruction {
	var out [][]instruction
	for _, in := range ins {
		if in.Cmd == "FROM" {
			out = append(out, nil)
		}
		if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], in)
		}
	}
	return out
}

func find(ins []instruction, cmd string) []string {
	var args []string
	for _, in := range ins {
		if in.Cmd == cmd {
			args = append(args, in.Args)
		}
	}
	return args
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	st := stages(parseDockerfile(t, filepath.Join(repoRoot(t), "Dockerfile")))
	if len(st) != 2 {
		t.Fatalf("Dockerfile has %d stages, want 2 (build, then the runtime image)", len(st))
	}
	build, final := st[0], st[1]

	if from := strings.Fields(build[0].Args); len(from) != 3 || !strings.HasPrefix(from[0], "golang:1.26") ||
		!strings.EqualFold(from[1], "AS") || from[2] != "build" {
		t.Errorf("first stage FROM %s, want FROM golang:1.26 AS build", build[0].Args)
	}
	var goBuild string
	for _, run := range find(build, "RUN") {
		if strings.Contains(run, "go build") {
			goBuild = run
		}
	}
	for _, want := range []string{"-trimpath", `-ldflags "-s -w"`, "./cmd/gateway"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("build stage go build %q lacks %s", goBuild, want)
		}
	}
	// A static binary is what lets the runtime image have no libc.
	envs := strings.Join(find(build, "ENV"), " ")
	if !strings.Contains(envs, "CGO_ENABLED=0") && !strings.Contains(goBuild, "CGO_ENABLED=0") {
		t.Errorf("build stage does not set CGO_ENABLED=0 (ENV %q, RUN %q)", envs, goBuild)
	}

	if got := final[0].Args; got != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("final FROM %s, want gcr.io/distroless/static-debian12:nonroot", got)
	}
	if !slices.ContainsFunc(find(final, "COPY"), func(s string) bool { return strings.HasPrefix(s, "--from=build ") }) {
		t.Errorf("final stage COPY %q, want a COPY --from=build of the binary", find(final, "COPY"))
	}
	if got := find(final, "USER"); !slices.Equal(got, []string{"nonroot:nonroot"}) {
		t.Errorf("final stage USER %q, want nonroot:nonroot", got)
	}

	var exposed []string
	for _, e := range find(final, "EXPOSE") {
		exposed = append(exposed, strings.Fields(e)...)
	}
	if diff := cmp.Diff([]string{"8080", "8081"}, exposed); diff != "" {
		t.Errorf("EXPOSE mismatch (-want +got):\n%s", diff)
	}

	exec := map[string][]string{}
	for _, cmd := range []string{"ENTRYPOINT", "CMD"} {
		args := find(final, cmd)
		if len(args) != 1 {
			t.Errorf("final stage has %d %s, want 1", len(args), cmd)
			continue
		}
		// The exec (JSON) form: no shell exists in distroless.
		var v []string
		if err := json.Unmarshal([]byte(args[0]), &v); err != nil {
			t.Errorf("%s %s is not in exec form: %v", cmd, args[0], err)
		}
		exec[cmd] = v
	}
	wantExec := map[string][]string{"ENTRYPOINT": {"/gateway"}, "CMD": {"serve"}}
	if diff := cmp.Diff(wantExec, exec); diff != "" {
		t.Errorf("ENTRYPOINT/CMD mismatch (-want +got):\n%s", diff)
	}
}

// TestDockerignore checks that the build context keeps what go build needs.
func TestDockerignore(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, strings.TrimSuffix(line, "/"))
		}
	}
	if !slices.Contains(patterns, ".git") {
		t.Errorf(".dockerignore %q does not exclude .git", patterns)
	}
	for _, needed := range []string{"go.mod", "go.sum", "cmd", "cmd/gateway", "internal", "gateway", "geoblock", "screening", "kyc"} {
		for _, p := range patterns {
			if m, err := filepath.Match(p, needed); err != nil || m || strings.HasPrefix(needed, p+"/") {
				t.Errorf(".dockerignore pattern %q excludes %s, which the build needs (or is malformed: %v)", p, needed, err)
			}
		}
	}
}
