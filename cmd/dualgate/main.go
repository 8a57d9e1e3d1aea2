// Command dualgate is the dualgate binary: `serve` runs the gateway,
// `demo` runs it with the demo data, `check` validates a catalog, `passwd`
// makes a SCRAM verifier line for the users file, `version` prints the
// version. It only wires packages together; the work happens in them.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
	// Session TimeZone and AT TIME ZONE resolve IANA names on machines and
	// images without /usr/share/zoneinfo too.
	_ "time/tzdata"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/cmd/internal/primary"
	"github.com/dualgate/dualgate/cmd/internal/sidecar"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/testdata"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "dualgate:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "dualgate",
		Short:         "Postgres-wire gateway for dual-pipeline data platforms",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServe(), newDemo(), newPasswd(), newVersion(), newCheck())
	return root
}

// validateOnlyKey, set in a command's context (tests: the README's command
// lines), makes serve, demo and sidecar stop once their flags, catalog,
// users file and gateway configuration have passed the checks a real start
// makes, before any store, listener or connection is opened.
type validateOnlyKey struct{}

// validateOnly reports whether ctx asks for validation only.
func validateOnly(ctx context.Context) bool {
	v, _ := ctx.Value(validateOnlyKey{}).(bool)
	return v
}

// serveOptions are the flags of `dualgate serve` (and `demo`).
type serveOptions struct {
	listen, data, catalog, redis, admin string
	role, primary                       string // --role primary|sidecar; the sidecar's --primary URL
	tlsCert, tlsKey, users              string
	logLevel, logFormat                 string
	trust, cleartext                    bool
	pprof, readyDegraded                bool
	maxMessage                          int
	shutdownGrace                       time.Duration
	commitSST                           int
	procs                               int // --gomaxprocs (gateway.SetProcessors)
	// onAdmin, when set (tests), is told the admin listener's address.
	onAdmin func(net.Addr)
	// demo, when set (`dualgate demo`, see demo.go), runs once the store is
	// open and the gateway accepts clients at addr (the demo's marketplace
	// files are loaded with COPY over the wire), before the pipelines'
	// background work starts and before ready is told: it loads the demo
	// history and starts the live trickle; runServe defers the returned stop.
	demo func(ctx context.Context, side *primary.Side, addr string, log zerolog.Logger) (stop func(), err error)
}

func (o *serveOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.listen, "listen", "127.0.0.1:5433", "address for Postgres clients")
	fs.StringVar(&o.role, "role", "primary", "primary (owns canonical, serves everything) or sidecar (serving from --redis, the rest forwarded to --primary)")
	fs.StringVar(&o.primary, "primary", "", "sidecar role: the primary's URL (postgres://host:port/db); without a user in it, each client's user name is used")
	fs.StringVar(&o.data, "data", "./dualgate-data", "directory of the durable store")
	fs.StringVar(&o.catalog, "catalog", "", "catalog FILE or DIR (one bounded context per YAML file)")
	fs.StringVar(&o.redis, "redis", "", "Redis URL for the serving store (redis://, rediss://, redis+cluster://); embedded store if empty. ?near_cache=off|SIZE (default 64MB) sizes the in-process cache of point lookups (single node only)")
	fs.StringVar(&o.admin, "admin", "127.0.0.1:9187", "address of the admin HTTP listener (/healthz, /readyz, /metrics); empty disables")
	fs.BoolVar(&o.pprof, "pprof", false, "serve Go profiles at /debug/pprof/ on the admin listener")
	fs.BoolVar(&o.readyDegraded, "ready-when-degraded", false, "keep /readyz at 200 (reporting degraded) while projections are behind their SLA or failing")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate (PEM); enables SSL")
	fs.StringVar(&o.tlsKey, "tls-key", "", "TLS private key (PEM)")
	fs.StringVar(&o.users, "users", "", "users file of `name:SCRAM-SHA-256$...` lines (see `dualgate passwd`)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "json", "json or console")
	fs.BoolVar(&o.trust, "trust", false, "accept clients without a password (loopback listen addresses only)")
	fs.BoolVar(&o.cleartext, "allow-cleartext", false, "offer cleartext password authentication over TLS")
	fs.IntVar(&o.maxMessage, "max-message-size", gateway.DefaultMaxMessageSize, "largest protocol message accepted, in bytes")
	fs.DurationVar(&o.shutdownGrace, "shutdown-grace", 10*time.Second, "how long running statements may finish after SIGTERM")
	fs.IntVar(&o.procs, "gomaxprocs", 0, "Go processors (GOMAXPROCS); 0: the CPU count, at least 4 (more processors than cores keeps background work from delaying client statements), unless GOMAXPROCS is set in the environment")
	fs.IntVar(&o.commitSST, "commit-sstable-bytes", 0, "commits of at least this many staged bytes are written as sstables applied in one atomic ingest instead of a WAL batch; 0: half of the memtable (2 MiB); negative: never")
}

// applyEnv gives every flag not set on the command line the value of its
// DUALGATE_* environment variable (--tls-cert -> DUALGATE_TLS_CERT).
func applyEnv(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		env := "DUALGATE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
		}
	})
	return errors.Join(errs...)
}

func newLogger(level, format string, w io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Logger{}, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	default:
		return zerolog.Logger{}, fmt.Errorf("--log-format %q: use json or console", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

func newServe() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags()); err != nil {
				return err
			}
			log, err := newLogger(o.logLevel, o.logFormat, os.Stderr)
			if err != nil {
				return err
			}
			var cat *catalog.Catalog
			if o.catalog != "" {
				report, ok := catalog.Check(o.catalog)
				if !ok {
					fmt.Fprintln(os.Stderr, report)
					return errInvalidCatalog
				}
				if cat, err = catalog.Load(o.catalog); err != nil {
					return err
				}
			}
			return runServe(cmd.Context(), o, cat, log, nil)
		},
	}
	o.register(cmd.Flags())
	return cmd
}

// newDemo runs the gateway with the embedded demo catalog, trust
// authentication on loopback and a temporary data directory, loaded with
// generated history and a live trickle of events (demo.go).
func newDemo() *cobra.Command {
	o := &serveOptions{}
	d := &demoOptions{out: os.Stderr}
	o.demo = d.load
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run dualgate on loopback with the retailer demo (no password; psql can connect right away)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags()); err != nil {
				return err
			}
			if d.generateOnly != "" {
				if validateOnly(cmd.Context()) {
					return nil
				}
				return d.generate(cmd.Context(), cmd.OutOrStdout())
			}
			o.trust = true
			log, err := newLogger(o.logLevel, o.logFormat, os.Stderr)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("data") {
				dir, err := os.MkdirTemp("", "dualgate-demo-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				o.data = dir
			}
			cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
			if err != nil {
				return fmt.Errorf("demo catalog: %w", err)
			}
			return runServe(cmd.Context(), o, cat, log, func(addr net.Addr) {
				d.listening(addr)
				host, port, _ := net.SplitHostPort(addr.String())
				fmt.Fprintf(os.Stderr, "\ndualgate demo is ready (data in %s). Connect with:\n\n    psql -h %s -p %s -U demo dualgate\n\nthen try: SELECT * FROM catalog.lineage;\n\n", o.data, host, port)
			})
		},
	}
	o.register(cmd.Flags())
	d.register(cmd.Flags())
	cmd.Flags().Lookup("log-format").DefValue = "console"
	_ = cmd.Flags().Set("log-format", "console")
	_ = cmd.Flags().Set("log-level", "warn")
	return cmd
}

// gatewayConfig is the front door both roles share: listener, TLS, users
// and limits.
func (o *serveOptions) gatewayConfig(log zerolog.Logger) (gateway.Config, error) {
	cfg := gateway.Config{
		Listen:         o.listen,
		Trust:          o.trust,
		AllowCleartext: o.cleartext,
		MaxMessageSize: o.maxMessage,
		ShutdownGrace:  o.shutdownGrace,
		Version:        version,
		Log:            log,
	}
	if o.tlsCert != "" || o.tlsKey != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return cfg, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if o.users != "" {
		var err error
		if cfg.Users, err = gateway.LoadUsers(o.users); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// startAdmin serves the admin listener when --admin is set (both roles);
// the returned stop closes it.
func (o *serveOptions) startAdmin(adm *admin, log zerolog.Logger) (stop func(), err error) {
	if o.admin == "" {
		return func() {}, nil
	}
	hs, addr, err := adm.listen(o.admin, log)
	if err != nil {
		return nil, err
	}
	if o.onAdmin != nil {
		o.onAdmin(addr)
	}
	return func() { _ = hs.Close() }, nil
}

func runServe(ctx context.Context, o *serveOptions, cat *catalog.Catalog, log zerolog.Logger, ready func(net.Addr)) error {
	if !validateOnly(ctx) {
		log.Debug().Int("gomaxprocs", gateway.SetProcessors(o.procs)).Int("cpus", runtime.NumCPU()).
			Bool("malloc_arenas_capped", capMallocArenas()).Msg("go processors")
	}
	switch o.role {
	case "", "primary":
	case "sidecar":
		return runSidecar(ctx, o, cat, log, ready)
	default:
		return fmt.Errorf("--role %q: use primary or sidecar", o.role)
	}
	cfg, err := o.gatewayConfig(log)
	if err != nil {
		return err
	}
	if validateOnly(ctx) {
		_, err := gateway.NewServer(cfg, nil)
		return err
	}
	if o.redis != "" && cat == nil {
		log.Warn().Str("redis", o.redis).Msg("--redis has no effect without --catalog: there are no projections to serve")
	}
	adm := newAdmin(o, cat)
	stopAdmin, err := o.startAdmin(adm, log)
	if err != nil {
		return err
	}
	defer stopAdmin()
	eng := gateway.NewEngine()
	defer eng.Close()
	var side *primary.Side
	if cat != nil {
		if err := eng.AddCatalogViews(cat); err != nil {
			return err
		}
		if err := os.MkdirAll(o.data, 0o750); err != nil {
			return fmt.Errorf("--data %s: %w", o.data, err)
		}
		var err error
		side, err = primary.OpenWithStore(ctx, o.data, canonical.Options{CommitSSTableBytes: o.commitSST}, cat, eng, o.redis, log)
		if err != nil {
			return err
		}
		defer side.Close()
		defer adm.attachSide(side)() // detached before the store closes
		side.Configure(&cfg)
		log.Info().Str("catalog", cat.Summary()).Uint64("commit_id", side.Head()).Str("data", o.data).Msg("catalog loaded, canonical store open")
	}
	adm.configure(&cfg)
	srv, err := gateway.NewServer(cfg, eng)
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	adm.setServer(srv, ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	if o.demo != nil && side != nil {
		stopDemo, err := o.demo(ctx, side, srv.Addr().String(), log)
		if err != nil {
			stop()
			<-served
			return err
		}
		defer stopDemo()
	}
	if ready != nil {
		ready(srv.Addr())
	}
	if side != nil {
		side.Run(ctx)
	}
	err = <-served
	log.Info().Msg("stopped")
	return err
}

// runSidecar runs `serve --role sidecar` (package sidecar): no store on
// disk, projections from --redis, everything else forwarded to --primary.
func runSidecar(ctx context.Context, o *serveOptions, cat *catalog.Catalog, log zerolog.Logger, ready func(net.Addr)) error {
	start := time.Now()
	// Grants, masks and row filters of local serving reads come from the
	// catalog; clients that sign in as users of the catalog's roles must
	// not be served without them (fail closed).
	if o.users != "" && cat == nil {
		return errors.New("--role sidecar with --users needs --catalog (the primary's catalog files): the sidecar enforces the catalog's grants and masks on the serving reads it answers itself")
	}
	cfg, err := o.gatewayConfig(log)
	if err != nil {
		return err
	}
	opts := sidecar.Options{Primary: o.primary, Redis: o.redis, Catalog: cat, Log: log}
	if validateOnly(ctx) {
		if err := sidecar.CheckOptions(opts); err != nil {
			return err
		}
		_, err := gateway.NewServer(cfg, nil)
		return err
	}
	adm := newAdmin(o, nil)
	stopAdmin, err := o.startAdmin(adm, log)
	if err != nil {
		return err
	}
	defer stopAdmin()
	eng := gateway.NewEngine()
	defer eng.Close()
	sc, err := sidecar.Open(ctx, eng, opts)
	if err != nil {
		return err
	}
	defer sc.Close()
	adm.mu.Lock()
	adm.statuses = sc.Statuses // /readyz: every projection fresh in Redis
	adm.mu.Unlock()
	defer sc.Observe(adm.metrics)()
	defer func() {
		adm.mu.Lock()
		adm.statuses = nil
		adm.mu.Unlock()
	}()
	sc.Configure(&cfg)
	if cat != nil {
		// With the catalog at hand the sidecar enforces its grants, masks
		// and row filters on local reads too (hashed masks use this
		// process's key, so they do not join with the primary's).
		cfg.Access = gateway.NewAccess(cat, nil)
	}
	adm.configure(&cfg)
	srv, err := gateway.NewServer(cfg, eng)
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	log.Info().Str("primary", sc.Primary()).Strs("projections", sc.Projections()).Dur("startup", time.Since(start)).Msg("sidecar ready")
	if ready != nil {
		ready(srv.Addr())
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	adm.setServer(srv, ctx)
	sc.Run(ctx)
	err = srv.Serve(ctx)
	log.Info().Msg("stopped")
	return err
}

func newPasswd() *cobra.Command {
	return &cobra.Command{
		Use:   "passwd USER",
		Short: "Print a users-file line with a SCRAM-SHA-256 verifier (password read from the terminal or stdin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			v, err := gateway.MakeVerifier(pw)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s:%s\n", args[0], v)
			return err
		},
	}
}

func readPassword(cmd *cobra.Command) (string, error) {
	if f, ok := cmd.InOrStdin().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 4096))
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", errors.New("empty password")
	}
	return pw, nil
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "dualgate %s\n", version)
			return err
		},
	}
}
