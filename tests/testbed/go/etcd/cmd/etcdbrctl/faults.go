package main

// Test-fleet fault hook (ours, not upstream): `etcdbrctl testbed-fault <fault>`
// writes <state-dir>/faults.json; the running server polls it every second.
// Faults accumulate until `heal` clears them all.

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
)

const (
	faultUnhealthy          = "unhealthy"
	faultSnapshotterFailing = "snapshotter-failing"
	faultStaleDelta         = "stale-delta"
	faultStaleFull          = "stale-full"
	faultHeal               = "heal"

	defaultFaultStateDir = "/var/etcd/data/temp/testbed" // <druid's --snapstore-temp-directory>/testbed
	faultStateFile       = "faults.json"

	staleDeltaAge = 20 * time.Minute
	staleFullAge  = 25 * time.Hour
)

var knownFaults = []string{faultUnhealthy, faultSnapshotterFailing, faultStaleDelta, faultStaleFull, faultHeal}

// faultState maps an active fault to the time it was switched on.
type faultState struct {
	Faults map[string]time.Time `json:"faults"`
}

func readFaultState(dir string) (faultState, error) {
	st := faultState{Faults: map[string]time.Time{}}
	data, err := os.ReadFile(filepath.Join(dir, faultStateFile))
	if os.IsNotExist(err) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, err
	}
	if st.Faults == nil {
		st.Faults = map[string]time.Time{}
	}
	return st, nil
}

func writeFaultState(dir string, st faultState) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, faultStateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	// readable by the server whichever user ran this command (etcdbrctl sets umask 0077)
	_ = os.Chmod(dir, 0o755)
	_ = os.Chmod(tmp, 0o644)
	return os.Rename(tmp, filepath.Join(dir, faultStateFile))
}

func (st faultState) names() []string {
	var out []string
	for k := range st.Faults {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func newFaultCommand() *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:       "testbed-fault <" + strings.Join(knownFaults, "|") + ">",
		Short:     "testbed only: switch a fault of the running server on (heal: all off)",
		Args:      cobra.ExactValidArgs(1),
		ValidArgs: knownFaults,
		RunE: func(_ *cobra.Command, args []string) error {
			st, err := readFaultState(stateDir)
			if err != nil {
				return err
			}
			if args[0] == faultHeal {
				st.Faults = map[string]time.Time{}
			} else if _, on := st.Faults[args[0]]; !on {
				st.Faults[args[0]] = time.Now().UTC()
			}
			if err := writeFaultState(stateDir, st); err != nil {
				return err
			}
			fmt.Printf("testbed faults now: [%s] (%s)\n", strings.Join(st.names(), ","), filepath.Join(stateDir, faultStateFile))
			return nil
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", defaultFaultStateDir, "directory of the fault state file (the server uses <snapstore-temp-directory>/testbed)")
	return cmd
}

// faultWatcher is the server side: it polls the state file and notifies on change.
type faultWatcher struct {
	dir     string
	logger  *log.Logger
	mu      sync.Mutex
	state   faultState
	healed  time.Time // when a non-empty fault set last became empty
	changed chan struct{}
}

func newFaultWatcher(dir string, logger *log.Logger) *faultWatcher {
	return &faultWatcher{dir: dir, logger: logger, state: faultState{Faults: map[string]time.Time{}}, changed: make(chan struct{}, 1)}
}

func (w *faultWatcher) run(stop <-chan struct{}) {
	w.poll()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			w.poll()
		}
	}
}

func (w *faultWatcher) poll() {
	st, err := readFaultState(w.dir)
	if err != nil {
		return // a half-written file is retried next second
	}
	w.mu.Lock()
	before := strings.Join(w.state.names(), ",")
	after := strings.Join(st.names(), ",")
	w.state = st
	if before != "" && after == "" {
		w.healed = time.Now()
	}
	w.mu.Unlock()
	if before != after {
		w.logger.Printf("testbed fault state changed: [%s] -> [%s]", before, after)
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
}

// since returns when the fault was switched on, and whether it is on.
func (w *faultWatcher) since(name string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.state.Faults[name]
	return t, ok
}

func (w *faultWatcher) on(name string) bool {
	_, ok := w.since(name)
	return ok
}

func (w *faultWatcher) healedAt() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.healed
}
