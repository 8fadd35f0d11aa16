// Command gateway is the compliance and fraud screening gateway: a reverse
// proxy in front of a storefront that geo-blocks EU/EEA visitors, screens
// orders and holds activation until the customer is verified.
//
// run wires the parts; the request flow itself is assembled by gateway.New
// in the order: client IP -> geo-block -> /_gateway/ pages -> order
// interception -> reverse proxy.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/vpsgate/gateway/internal/config"
)

// Exit statuses: 2 is a configuration or usage problem, the same as flag's.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	// gin's mode is process-wide; release mode keeps its route table off
	// stdout. This is the one piece of global state, set once, here.
	gin.SetMode(gin.ReleaseMode)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, config.Environ())
	stop()
	os.Exit(code)
}

// command is one sub-command.
type command struct {
	name, summary string
	run           func(ctx context.Context, e *cmdEnv) error
}

// cmdEnv is what a sub-command gets: its flags and the process's streams,
// so that tests can run any sub-command in-process.
type cmdEnv struct {
	flags      *flag.FlagSet
	configPath *string
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
	env        map[string]string
	args       []string
}

// parse parses the command line once the command has declared its flags.
// Positional arguments are refused: every command takes flags only.
func (e *cmdEnv) parse() error {
	if err := e.flags.Parse(e.args); err != nil {
		return err
	}
	if e.flags.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", e.flags.Name(), e.flags.Arg(0))}
	}
	return nil
}

// usageError is a bad command line; it exits 2 like a bad configuration.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func commands() []command {
	return []command{
		{"serve", "run the gateway (the default)", serveCmd},
		{"check-config", "validate the configuration and exit (status 2 when invalid)", checkConfigCmd},
		{"version", "print the version", versionCmd},
		{"hash-key", "read an API key on stdin, print its auth.api_keys key_hash", hashKeyCmd},
		{"hash-password", "read a console password on stdin, print its auth.users password_hash", hashPasswordCmd},
		{"token", "mint an officer JWT: -sub NAME -role officer|admin [-ttl 1h]", tokenCmd},
		{"audit", "audit verify: check the audit log's hash chain in Redis and S3; exit 1 naming the first broken link", auditCmd},
		{"demo-storefront", "run only the built-in demo storefront (used by docker-compose)", demoStorefrontCmd},
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env map[string]string) int {
	name := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	if name == "help" {
		printUsage(stdout)
		return exitOK
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == name {
			cmd = &c
			break
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "gateway: unknown command %q\n\n", name)
		printUsage(stderr)
		return exitUsage
	}
	fs := flag.NewFlagSet("gateway "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &cmdEnv{
		flags:      fs,
		configPath: fs.String("config", env["GATEWAY_CONFIG"], "configuration `file` (YAML); default $GATEWAY_CONFIG; none: built-in defaults"),
		stdin:      stdin, stdout: stdout, stderr: stderr, env: env, args: args,
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: gateway %s [flags]\n\n%s\n\nflags:\n", cmd.name, cmd.summary)
		fs.PrintDefaults()
	}
	return exitCode(stderr, cmd.run(ctx, e))
}

func exitCode(stderr io.Writer, err error) int {
	var cfgErr *config.Error
	var uErr usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &cfgErr):
		fmt.Fprintln(stderr, "gateway:", err)
		return exitUsage
	case errors.As(err, &uErr):
		fmt.Fprintln(stderr, "gateway:", err)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "gateway:", err)
		return exitFailed
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: gateway [command] [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'gateway COMMAND -h' for a command's flags. Every command takes -config FILE.")
}
