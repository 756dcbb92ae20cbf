package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/internal/testenv"
)

// The proof of issue 16, part 3: when one machine is not enough,
// PostgreSQL's own tools carry cadastre. A primary and a streaming standby
// made by pg_basebackup, in synchronous replication, two `cadastre serve`
// replicas on a multi-host DSN with target_session_attrs=read-write, and
// clients allocating through them. Halfway, the primary is stopped
// (fenced: no writer can reach it again) and the standby promoted. The
// replicas are not restarted: their pools drop the dead connections and
// connect to whichever host now takes writes. Afterwards, read from the
// promoted server: every acknowledged allocation is there, nothing is held
// twice, every retry got its original answer (runScenario's checks).

// failoverAllocations is how many allocation requests the clients get
// acknowledged: enough load on both sides of the promotion, within the
// test's budget of about a minute (fewer under -race, where the servers
// are built with -race as well and run several times slower).
func failoverAllocations() int {
	if testenv.Race || testing.Short() {
		return 600
	}
	return 2000
}

// TestFailoverToSynchronousStandby promotes a synchronous standby under an
// allocation load.
func TestFailoverToSynchronousStandby(t *testing.T) {
	pg := newPGRunner(t)
	primary := pg.initPrimary(t)
	standby := pg.baseBackup(t, primary)
	if err := pg.waitSync(primary); err != nil {
		t.Fatalf("the standby never became the synchronous one: %v\n%s", err, standby.tail())
	}
	// Both hosts, in order; pgx tries each and keeps the one that takes
	// writes. The database is cadastre's own, in schema public.
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/postgres?sslmode=disable&target_session_attrs=read-write&connect_timeout=5",
		primary.port, standby.port)
	runScenario(t, scenario{
		global:   []string{"--postgres", dsn},
		replicas: 2,
		total:    failoverAllocations(),
		read: func(ctx context.Context) (*dbState, error) {
			// Straight from the promoted server, not through the DSN: the
			// acknowledged allocations must be on it.
			return readPostgres(ctx, standby.dsn())
		},
		disrupt: func(ctx context.Context, d *driver) (string, error) {
			return failover(ctx, d, pg, primary, standby)
		},
	})
}

// failover fences the primary (an immediate stop: whatever it was doing is
// cut off, as in a crash), promotes the standby, and measures how long the
// clients went without an acknowledgement.
func failover(ctx context.Context, d *driver, pg *pgRunner, primary, standby *pgCluster) (string, error) {
	before := d.acked.Load()
	fenced := time.Now()
	if err := pg.stop(primary, "immediate"); err != nil {
		return "", fmt.Errorf("stopping the primary: %v", err)
	}
	acked := d.acked.Load() - before // acknowledged while the stop ran
	promoted := time.Now()
	if out, err := pg.run(ctx, "pg_ctl", "promote", "-w", "-t", "30", "-D", standby.dir); err != nil {
		return "", fmt.Errorf("pg_ctl promote: %v\n%s\n%s", err, out, standby.tail())
	}
	promoteTook := time.Since(promoted)
	// Nothing can be acknowledged by the fenced primary any more: the
	// next acknowledgement is the promoted server's.
	mark := d.acked.Load()
	for d.acked.Load() == mark {
		if ctx.Err() != nil {
			return "", fmt.Errorf("no allocation acknowledged after the promotion: %v", ctx.Err())
		}
		time.Sleep(time.Millisecond)
	}
	first := time.Now()
	d.t.Logf("failover at %s: primary stopped at %d acknowledged (%d during the stop); pg_ctl promote took %s; "+
		"first allocation acknowledged %s after the promotion began, %s after the primary stopped",
		fenced.UTC().Format("15:04:05.000"), before, acked, promoteTook.Round(time.Millisecond), first.Sub(promoted).Round(time.Millisecond), first.Sub(fenced).Round(time.Millisecond))
	return fmt.Sprintf("primary fenced and standby promoted; allocations acknowledged again %s after the promotion began",
		first.Sub(promoted).Round(time.Millisecond)), nil
}

// pgRunner runs PostgreSQL's programs of the newest installed version,
// as user postgres when the test runs as root (the server refuses root).
type pgRunner struct {
	bin  string   // the folder of postgres, pg_ctl, initdb...
	as   []string // setpriv ... when root, else nil
	uid  int
	gid  int
	root string // the folder holding the clusters, the sockets and the logs
}

func newPGRunner(t *testing.T) *pgRunner {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_basebackup")
	if len(bins) == 0 {
		testenv.Need(t, "PostgreSQL server programs (initdb, pg_ctl, pg_basebackup)", "none under /usr/lib/postgresql/*/bin (scripts/setup installs postgresql)")
	}
	slices.SortFunc(bins, func(a, b string) int { return versionOf(a) - versionOf(b) })
	r := &pgRunner{bin: filepath.Dir(bins[len(bins)-1]), uid: -1, gid: -1}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			testenv.Need(t, "OS user postgres", fmt.Sprintf("%v (the server refuses to run as root; the postgresql package makes the user)", err))
		}
		r.uid, _ = strconv.Atoi(u.Uid)
		r.gid, _ = strconv.Atoi(u.Gid)
		p := testenv.Program(t, "setpriv", "util-linux")
		r.as = []string{p, "--reuid=" + u.Uid, "--regid=" + u.Gid, "--init-groups", "--"}
	}
	// Not t.TempDir: its parents are private to root, and the server's
	// unix socket path must stay short (about 100 bytes).
	dir, err := os.MkdirTemp("", "cadastre-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // after the clusters stop (cleanups run last first)
	if err := r.own(dir); err != nil {
		t.Fatal(err)
	}
	r.root = dir
	return r
}

// versionOf is the major version in .../postgresql/N/bin/...
func versionOf(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// own gives path to the user the servers run as.
func (r *pgRunner) own(path string) error {
	if r.uid < 0 {
		return nil
	}
	return os.Chown(path, r.uid, r.gid)
}

// run runs one of PostgreSQL's programs to completion, bounded.
func (r *pgRunner) run(ctx context.Context, prog string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	argv := append(append(append([]string{}, r.as...), filepath.Join(r.bin, prog)), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = r.root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// pgCluster is one server of the test: its data folder and its port.
type pgCluster struct {
	r    *pgRunner
	name string
	dir  string
	port int
}

func (c *pgCluster) log() string { return filepath.Join(c.r.root, c.name+".log") }

func (c *pgCluster) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// tail is the end of the server's log, for failure messages.
func (c *pgCluster) tail() string {
	b, _ := os.ReadFile(c.log())
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// conf appends settings to the cluster's postgresql.conf (the last
// setting of a name wins).
func (c *pgCluster) conf(lines ...string) error {
	f, err := os.OpenFile(filepath.Join(c.dir, "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString("\n# the failover test\n" + strings.Join(lines, "\n") + "\n")
	return errors.Join(err, f.Close())
}

// start starts the cluster on a free loopback port, trying another port
// if the one picked was taken meanwhile, and stops it when the test ends.
func (r *pgRunner) start(t *testing.T, c *pgCluster) {
	t.Helper()
	t.Cleanup(func() { r.stop(c, "immediate") })
	var out string
	var err error
	for range 3 {
		c.port = freePort(t)
		out, err = r.run(context.Background(), "pg_ctl", "start", "-w", "-t", "30", "-D", c.dir, "-l", c.log(),
			"-o", fmt.Sprintf("-p %d", c.port))
		if err == nil {
			return
		}
	}
	t.Fatalf("pg_ctl start %s: %v\n%s\n%s", c.name, err, out, c.tail())
}

// stop stops the cluster if it runs; mode is pg_ctl's (fast, immediate).
func (r *pgRunner) stop(c *pgCluster, mode string) error {
	if _, err := os.Stat(filepath.Join(c.dir, "postmaster.pid")); err != nil {
		return nil
	}
	out, err := r.run(context.Background(), "pg_ctl", "stop", "-w", "-t", "30", "-m", mode, "-D", c.dir)
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// settings are both servers' own: loopback only, sockets in the test's
// folder, small enough for a shared test machine.
func (r *pgRunner) settings() []string {
	return []string{
		"listen_addresses = '127.0.0.1'",
		"unix_socket_directories = '" + r.root + "'",
		"max_connections = 60",
		"shared_buffers = '16MB'",
		"wal_level = replica",
		"max_wal_senders = 4",
		"logging_collector = off",
		// The test kills processes, not the machine: what reached the
		// operating system survives, and synchronous replication still
		// waits for the standby to have the commit. Without fsync the
		// shared CI disk cannot stall commits (and the region locks held
		// across them) for seconds.
		"fsync = off",
	}
}

// initPrimary makes and starts the primary: synchronous replication to
// the server that calls itself standby.
func (r *pgRunner) initPrimary(t *testing.T) *pgCluster {
	t.Helper()
	c := &pgCluster{r: r, name: "primary", dir: filepath.Join(r.root, "primary")}
	// initdb's default pg_hba.conf with trust lets loopback replicate.
	if out, err := r.run(context.Background(), "initdb", "-D", c.dir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if err := c.conf(append(r.settings(), "cluster_name = 'primary'", "synchronous_standby_names = 'standby'", "synchronous_commit = on")...); err != nil {
		t.Fatal(err)
	}
	r.start(t, c)
	return c
}

// baseBackup copies the running primary with pg_basebackup into a standby
// that streams from it (-R: standby.signal and primary_conninfo), and
// starts it.
func (r *pgRunner) baseBackup(t *testing.T, primary *pgCluster) *pgCluster {
	t.Helper()
	c := &pgCluster{r: r, name: "standby", dir: filepath.Join(r.root, "standby")}
	if out, err := r.run(context.Background(), "pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(primary.port), "-U", "postgres",
		"-D", c.dir, "-R", "-X", "stream", "-c", "fast", "--no-sync"); err != nil {
		t.Fatalf("pg_basebackup: %v\n%s\n%s", err, out, primary.tail())
	}
	// Its name is what the primary waits for; once promoted it has no
	// standby of its own, so it must not wait for one.
	// It retries the lost primary every 200 ms, not every 5 s, so that a
	// promotion does not wait out a retry sleep.
	if err := c.conf("cluster_name = 'standby'", "synchronous_standby_names = ''", "wal_retrieve_retry_interval = '200ms'"); err != nil {
		t.Fatal(err)
	}
	r.start(t, c)
	return c
}

// waitSync waits until the primary reports a synchronous standby
// streaming to it.
func (r *pgRunner) waitSync(primary *pgCluster) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, primary.dsn())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for {
		var n int
		err := conn.QueryRow(ctx, `SELECT COUNT(*) FROM pg_stat_replication WHERE application_name = 'standby' AND sync_state = 'sync' AND state = 'streaming'`).Scan(&n)
		if err != nil {
			return err
		}
		if n == 1 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
