package main

// A small snapshotter for the leading sidecar, modelled on upstream
// pkg/snapshot/snapshotter/snapshotter.go and pkg/snapstore/local_snapstore.go:
// full snapshots are real etcd snapshots (Maintenance.Snapshot) written as
// <store>/Full-<start>-<last>-<unix><suffix>[.final]; delta snapshots are cheap: the
// key-values modified since the previous snapshot's revision (Get with
// min-mod-revision, deletions are not recorded) written as Incr-... files.
// Metrics and Lease updates are set where upstream sets them. On-demand snapshots
// (/snapshot/full, /snapshot/delta) go through the run loop as upstream's
// TriggerFullSnapshot / TriggerDeltaSnapshot do (request + ack channels).

import (
	"compress/gzip"
	"compress/lzw"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// finalSuffix is brtypes.FinalSuffix (upstream pkg/types/snapstore.go).
const finalSuffix = ".final"

// brSnapshot is upstream's brtypes.Snapshot (pkg/types/snapstore.go) field for field, with its
// JSON tags (the misspelt "immutabilityExpriyTime" included): the body of /snapshot/full,
// /snapshot/delta and the entries of /snapshot/latest.
type brSnapshot struct {
	CreatedOn              time.Time `json:"createdOn"`
	ImmutabilityExpiryTime time.Time `json:"immutabilityExpriyTime"`
	VersionID              *string   `json:"versionID"` // only for S3 object lock; always null here
	Kind                   string    `json:"kind"`      // Full, Incr
	SnapDir                string    `json:"snapDir"`
	SnapName               string    `json:"snapName"`
	Prefix                 string    `json:"prefix"`
	CompressionSuffix      string    `json:"compressionSuffix"`
	StartRevision          int64     `json:"startRevision"`
	LastRevision           int64     `json:"lastRevision"`
	IsChunk                bool      `json:"isChunk"`
	IsFinal                bool      `json:"isFinal"`
}

// newBrSnapshot mirrors snapstore.NewSnapshot (pkg/snapstore/snapshot.go): created now (UTC, with
// nanoseconds), name from Snapshot.GenerateSnapshotName; prefix and snapDir stay empty.
func newBrSnapshot(kind string, start, last int64, suffix string, isFinal bool) *brSnapshot {
	s := &brSnapshot{Kind: kind, StartRevision: start, LastRevision: last, CreatedOn: time.Now().UTC(), CompressionSuffix: suffix, IsFinal: isFinal}
	final := ""
	if isFinal {
		final = finalSuffix
	}
	s.SnapName = fmt.Sprintf("%s-%08d-%08d-%d%s%s", s.Kind, s.StartRevision, s.LastRevision, s.CreatedOn.Unix(), s.CompressionSuffix, final)
	return s
}

// parseBrSnapshot mirrors snapstore.ParseSnapshot (pkg/snapstore/snapshot.go) for the v1/v2 layouts:
// prefix = the path up to and including the last "v1/" or "v2/", creation time = the name's Unix
// seconds (UTC), the compression suffix and ".final" from the dotted tail of the name.
func parseBrSnapshot(snapPath string) (*brSnapshot, error) {
	version := ""
	idx := strings.LastIndex(snapPath, "v1/")
	if idx >= 0 {
		version = "v1"
	} else if idx = strings.LastIndex(snapPath, "v2/"); idx >= 0 {
		version = "v2"
	}
	if version == "" {
		return nil, fmt.Errorf("invalid snapPath %v, does not contain any backupVersion", snapPath)
	}
	idx += 3
	s := &brSnapshot{Prefix: snapPath[:idx]}
	tok := strings.Split(snapPath[idx:], "/")
	if len(tok) < 1 || len(tok) > 3 {
		return nil, fmt.Errorf("invalid snapshot name: %s", snapPath[idx:])
	}
	snapName := ""
	if version == "v1" {
		s.IsChunk = len(tok) == 3
		s.SnapDir = tok[0]
		snapName = path.Join(tok[1:]...)
	} else {
		s.IsChunk = len(tok) == 2
		snapName = path.Join(tok...)
	}
	tokens := strings.Split(snapName, "-")
	if len(tokens) != 4 {
		return nil, fmt.Errorf("invalid snapshot name: %s", snapName)
	}
	switch tokens[0] {
	case kindFull, kindDelta:
		s.Kind = tokens[0]
	default:
		return nil, fmt.Errorf("unknown snapshot kind: %s", tokens[0])
	}
	var err error
	if s.StartRevision, err = strconv.ParseInt(tokens[1], 10, 64); err != nil {
		return nil, fmt.Errorf("invalid start revision: %s", tokens[1])
	}
	if s.LastRevision, err = strconv.ParseInt(tokens[2], 10, 64); err != nil {
		return nil, fmt.Errorf("invalid last revision: %s", tokens[2])
	}
	if s.StartRevision > s.LastRevision {
		return nil, fmt.Errorf("last revision (%s) should be at least start revision(%s) ", tokens[2], tokens[1])
	}
	timeWithSuffix := strings.Split(strings.Split(tokens[3], "/")[0], ".")
	if len(timeWithSuffix) >= 2 {
		if "."+timeWithSuffix[1] != finalSuffix {
			s.CompressionSuffix = "." + timeWithSuffix[1]
		}
		if "."+timeWithSuffix[len(timeWithSuffix)-1] == finalSuffix {
			s.IsFinal = true
		}
	}
	unix, err := strconv.ParseInt(timeWithSuffix[0], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("invalid creation time: %s", tokens[3])
	}
	s.CreatedOn = time.Unix(unix, 0).UTC()
	s.SnapName = snapName
	return s, nil
}

// sortSnapList sorts as brtypes.SnapList's Less: by last revision, a non-chunk before a chunk,
// then by creation second.
func sortSnapList(l []*brSnapshot) {
	sort.Slice(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.LastRevision != b.LastRevision {
			return a.LastRevision < b.LastRevision
		}
		if a.IsChunk != b.IsChunk {
			return !a.IsChunk
		}
		return a.CreatedOn.Unix() < b.CreatedOn.Unix()
	})
}

// snapResult is upstream's snapshotter result (the ack of an on-demand request).
type snapResult struct {
	snap *brSnapshot
	err  error
}

type snapshotter struct {
	s          *server
	dir        string
	schedule   *cronSchedule
	kube       *kubeClient
	suffix     string
	prevFull   *brSnapshot   // upstream PrevFullSnapshot
	prevDeltas []*brSnapshot // upstream PrevDeltaSnapshots
	prev       *brSnapshot   // upstream PrevSnapshot (a dummy Full 0-0 when the store is empty)
	healSeen   time.Time
	leaseErr   map[string]string
	skipLogged map[string]bool

	// upstream PrevFullSnapshotSucceeded: a failed full snapshot makes the next start take one
	prevFullSucceeded bool
	// when an on-demand snapshot last succeeded: a stale-* fault that started before it no
	// longer forces a stale timestamp (a real snapshot was taken since)
	onDemandFullAt, onDemandDeltaAt time.Time

	// set by run once its start-up snapshot succeeded (the server then resets its backoff)
	startedOK bool
	// upstream SnapshotterStateActive + SsrStateMutex: true while the event loop runs
	stateMu sync.RWMutex
	active  bool
	// upstream fullSnapshotReqCh / fullSnapshotAckCh / deltaSnapshotReqCh / deltaSnapshotAckCh (unbuffered)
	fullReqCh  chan bool
	fullAckCh  chan snapResult
	deltaReqCh chan struct{}
	deltaAckCh chan snapResult
}

// storeDir follows upstream snapstore.GetSnapstore for the Local provider:
// $HOME/<container>/<prefix>/v2 with container from --store-container or env
// STORAGE_CONTAINER (druid mounts the Local bucket at /home/nonroot/<container>);
// without a container (or when that is not writable) <snapstore-temp-directory>/store/<prefix>/v2.
func storeDir(o *options) string {
	container := o.storeContainer
	if container == "" {
		container = os.Getenv("STORAGE_CONTAINER")
	}
	var candidates []string
	if container != "" {
		if home, err := os.UserHomeDir(); err == nil {
			candidates = append(candidates, filepath.Join(home, container, o.storePrefix, "v2"))
		}
	}
	candidates = append(candidates, filepath.Join(o.snapshotTempDir(), "store", o.storePrefix, "v2"))
	for _, c := range candidates {
		if err := os.MkdirAll(c, 0o700); err == nil {
			return c
		}
	}
	return candidates[len(candidates)-1]
}

func compressionSuffix(o *options) string {
	if !o.compressSnapshots {
		return ""
	}
	switch o.compressionPolicy {
	case "lzw":
		return ".Z"
	case "zlib":
		return ".zlib"
	default:
		return ".gz"
	}
}

func newSnapshotter(s *server) (*snapshotter, error) {
	sched, err := parseCron(s.o.fullSnapshotSchedule)
	if err != nil {
		return nil, fmt.Errorf("invalid full snapshot schedule provided %s : %v", s.o.fullSnapshotSchedule, err)
	}
	ssr := &snapshotter{s: s, dir: storeDir(s.o), schedule: sched, suffix: compressionSuffix(s.o),
		leaseErr: map[string]string{}, skipLogged: map[string]bool{}, prevFullSucceeded: true,
		fullReqCh: make(chan bool), fullAckCh: make(chan snapResult),
		deltaReqCh: make(chan struct{}), deltaAckCh: make(chan snapResult)}
	if s.o.snapshotLeaseRenewal {
		// upstream NewSnapshotter creates the clientset only with --enable-snapshot-lease-renewal
		if ssr.kube, err = newInClusterClient(); err != nil {
			return nil, fmt.Errorf("failed to create clientset: %v", err)
		}
	}
	if err := ssr.loadStore(); err != nil {
		return nil, err
	}
	s.logger.Printf("Snapshotter store: %s (latest full: %s, deltas since: %d)", ssr.dir, ssr.fullName(), len(ssr.prevDeltas))
	return ssr, nil
}

func (ssr *snapshotter) fullName() string {
	if ssr.prevFull == nil {
		return "none"
	}
	return ssr.prevFull.SnapName
}

// list mirrors LocalSnapStore.List (pkg/snapstore/local_snapstore.go): walk the parent of the
// store directory (the level above v2, for v1 backups), parse every file under a v1/ or v2/
// path, skip the invalid ones, sort as SnapList. Our own in-flight ".<name>.part" files are
// skipped silently (upstream writes in place).
func (ssr *snapshotter) list() ([]*brSnapshot, error) {
	root := filepath.Dir(ssr.dir)
	var out []*brSnapshot
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() || strings.HasPrefix(info.Name(), ".") {
			return nil
		}
		if strings.Contains(p, "v1") || strings.Contains(p, "v2") {
			if snap, err := parseBrSnapshot(p); err == nil {
				out = append(out, snap)
			} else {
				ssr.s.logger.Printf("Invalid snapshot found. Ignoring it:%s", p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("error walking the path %q: %v", root, err)
	}
	sortSnapList(out)
	return out, nil
}

// latest mirrors miscellaneous.GetLatestFullSnapshotAndDeltaSnapList (pkg/miscellaneous/miscellaneous.go):
// from the newest entry back, the deltas up to the latest full snapshot (chunks skipped), sorted;
// it sets the snapstore_latest_deltas_* gauges as upstream does on every call.
func (ssr *snapshotter) latest() (*brSnapshot, []*brSnapshot, error) {
	all, err := ssr.list()
	if err != nil {
		return nil, nil, err
	}
	var full *brSnapshot
	var deltas []*brSnapshot
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].IsChunk {
			continue
		}
		if all[i].Kind == kindFull {
			full = all[i]
			break
		}
		deltas = append(deltas, all[i])
	}
	sortSnapList(deltas)
	metricLatestDeltasTotal.WithLabelValues().Set(float64(len(deltas)))
	if len(deltas) == 0 {
		metricLatestDeltasRevisionsTotal.WithLabelValues().Set(0)
	} else {
		metricLatestDeltasRevisionsTotal.WithLabelValues().Set(float64(deltas[len(deltas)-1].LastRevision - deltas[0].StartRevision))
	}
	return full, deltas, nil
}

// loadStore sets the previous snapshots and the timestamp metrics as upstream NewSnapshotter does.
func (ssr *snapshotter) loadStore() error {
	full, deltas, err := ssr.latest()
	if err != nil {
		return err
	}
	ssr.prevFull, ssr.prevDeltas = full, deltas
	switch {
	case full != nil && len(deltas) == 0:
		ssr.prev = full
		metricLatestSnapshotTimestamp.WithLabelValues(kindFull).Set(float64(full.CreatedOn.Unix()))
		metricLatestSnapshotTimestamp.WithLabelValues(kindDelta).Set(float64(full.CreatedOn.Unix()))
	case full != nil:
		ssr.prev = deltas[len(deltas)-1]
		metricLatestSnapshotTimestamp.WithLabelValues(kindFull).Set(float64(full.CreatedOn.Unix()))
		metricLatestSnapshotTimestamp.WithLabelValues(kindDelta).Set(float64(ssr.prev.CreatedOn.Unix()))
	default:
		// upstream: a dummy previous snapshot since there is no full snapshot
		ssr.prev = newBrSnapshot(kindFull, 0, 0, "", false)
	}
	metricLatestSnapshotRevision.WithLabelValues(ssr.prev.Kind).Set(float64(ssr.prev.LastRevision))
	return nil
}

// setActive / isActive mirror SetSnapshotterActive / SetSnapshotterInactive / IsSnapshotterStateActive.
func (ssr *snapshotter) setActive(on bool) {
	ssr.stateMu.Lock()
	defer ssr.stateMu.Unlock()
	ssr.active = on
}

func (ssr *snapshotter) isActive() bool {
	ssr.stateMu.RLock()
	defer ssr.stateMu.RUnlock()
	return ssr.active
}

// triggerFull mirrors Snapshotter.TriggerFullSnapshot: refused unless the snapshotter is active,
// else the request goes to the run loop and the caller waits for its ack (so an on-demand and a
// scheduled snapshot never run at once). One deviation: upstream blocks on the unbuffered
// request channel for good; we give up when the HTTP client does (the loop has not taken the
// request then, so nothing is lost). Once taken, the ack is always awaited, as upstream.
func (ssr *snapshotter) triggerFull(ctx context.Context, isFinal bool) (*brSnapshot, error) {
	if !ssr.isActive() {
		return nil, errors.New("snapshotter is not active")
	}
	ssr.s.logger.Printf("Triggering out of schedule full snapshot...")
	select {
	case ssr.fullReqCh <- isFinal:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	res := <-ssr.fullAckCh
	return res.snap, res.err
}

// triggerDelta mirrors Snapshotter.TriggerDeltaSnapshot (incl. the refusal below a 1 s period).
func (ssr *snapshotter) triggerDelta(ctx context.Context) (*brSnapshot, error) {
	if !ssr.isActive() {
		return nil, errors.New("snapshotter is not active")
	}
	if ssr.s.o.deltaSnapshotPeriod < time.Second {
		return nil, fmt.Errorf("found delta snapshot interval %s less than %v. Delta snapshotting is disabled. ", ssr.s.o.deltaSnapshotPeriod, time.Second)
	}
	ssr.s.logger.Printf("Triggering out of schedule delta snapshot...")
	select {
	case ssr.deltaReqCh <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	res := <-ssr.deltaAckCh
	return res.snap, res.err
}

// fullRequiredAtStartup is the part of Snapshotter.IsFullSnapshotRequiredAtStartup the stand-in
// keeps: no full snapshot, a final one, one older than the schedule's window, or a failed last one.
func (ssr *snapshotter) fullRequiredAtStartup(now time.Time) bool {
	return ssr.prevFull == nil || ssr.prevFull.IsFinal || now.Sub(ssr.prevFull.CreatedOn) > ssr.schedule.interval(now) || !ssr.prevFullSucceeded
}

// run takes the start-up snapshot (full when none is recent enough, else a
// delta), then deltas every --delta-snapshot-period and fulls per --schedule,
// and serves on-demand requests, until ctx ends (nil) or a snapshot fails (the error).
func (ssr *snapshotter) run(ctx context.Context) error {
	f := ssr.s.faults
	ssr.startedOK = false
	if ssr.healPending() {
		if err := ssr.healSnapshots(ctx); err != nil {
			return err
		}
	} else if ssr.fullRequiredAtStartup(time.Now()) && !f.on(faultStaleFull) {
		metricSnapshotRequired.WithLabelValues(kindDelta).Set(0)
		metricSnapshotRequired.WithLabelValues(kindFull).Set(1)
		if _, err := ssr.takeFullWithLease(ctx, false); err != nil {
			return err
		}
	} else if !f.on(faultStaleDelta) {
		if _, err := ssr.takeDeltaWithLease(ctx); err != nil {
			return err
		}
	}

	// upstream runEtcdProbeLoopWithSnapshotter: SetSnapshotterActive once the start-up snapshot is
	// taken; snapshotEventHandler's deferred SetSnapshotterInactive when the loop ends
	ssr.startedOK = true
	ssr.setActive(true)
	defer ssr.setActive(false)

	ssr.enforceFaultMetrics()
	nextFull := ssr.schedule.next(time.Now())
	ssr.s.logger.Printf("Snapshotter running: deltas every %s, next full snapshot at %s", ssr.s.o.deltaSnapshotPeriod, nextFull.Format(time.RFC3339))

	var deltaC <-chan time.Time
	var deltaT *time.Ticker
	if ssr.s.o.deltaSnapshotPeriod >= time.Second {
		deltaT = time.NewTicker(ssr.s.o.deltaSnapshotPeriod)
		defer deltaT.Stop()
		deltaC = deltaT.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			ssr.s.logger.Printf("Snapshotter stopped.")
			return nil
		case isFinal := <-ssr.fullReqCh:
			// upstream snapshotEventHandler, case fullSnapshotReqCh: TakeFullSnapshotAndResetTimer, ack,
			// a failure ends the snapshotter (-> backoff and restart), else the full-snapshot Lease is
			// renewed (FullSnapshotLeaseUpdateTimer reset to fire at once, i.e. after the ack)
			snap, err := ssr.takeFullAndResetTimer(ctx, isFinal, &nextFull)
			ssr.fullAckCh <- snapResult{snap, err}
			if err != nil {
				return err
			}
			ssr.onDemandFullAt = time.Now()
			ssr.renewFullLease(ctx, snap)
		case <-ssr.deltaReqCh:
			// upstream case deltaSnapshotReqCh: takeDeltaSnapshotAndResetTimer, ack, a failure ends the
			// snapshotter, else DeltaSnapshotCaseLeaseUpdate (also when no delta was taken)
			snap, err := ssr.takeDelta(ctx)
			if err != nil {
				ssr.s.logger.Printf("Taking delta snapshot failed: %v", err)
			} else if deltaT != nil {
				deltaT.Reset(ssr.s.o.deltaSnapshotPeriod)
			}
			ssr.deltaAckCh <- snapResult{snap, err}
			if err != nil {
				return err
			}
			if snap != nil {
				ssr.onDemandDeltaAt = time.Now()
			}
			ssr.renewDeltaLease(ctx)
		case <-f.changed:
			if ssr.healPending() {
				if err := ssr.healSnapshots(ctx); err != nil {
					return err
				}
			}
			ssr.enforceFaultMetrics()
			// the fault shows at once (not only at the next --delta-snapshot-period): the snapshot
			// attempt fails like a snapstore outage would, and the snapshotter restarts with backoff
			if f.on(faultSnapshotterFailing) {
				if _, err := ssr.takeDeltaWithLease(ctx); err != nil {
					return err
				}
			}
		case <-deltaC:
			if f.on(faultStaleDelta) {
				ssr.logSkip(faultStaleDelta, "delta snapshots skipped (testbed fault stale-delta)")
				continue
			}
			ssr.skipLogged[faultStaleDelta] = false
			if _, err := ssr.takeDeltaWithLease(ctx); err != nil {
				return err
			}
		case now := <-tick.C:
			if !now.Before(nextFull) {
				if f.on(faultStaleFull) {
					nextFull = ssr.schedule.next(now)
					ssr.logSkip(faultStaleFull, "scheduled full snapshot skipped (testbed fault stale-full)")
				} else {
					snap, err := ssr.takeFullAndResetTimer(ctx, false, &nextFull)
					if err != nil {
						return err
					}
					ssr.renewFullLease(ctx, snap)
				}
			}
			ssr.enforceFaultMetrics()
		}
	}
}

// takeFullAndResetTimer mirrors Snapshotter.TakeFullSnapshotAndResetTimer (its log lines say
// "scheduled" for on-demand snapshots too) and records PrevFullSnapshotSucceeded as the event
// handler does.
func (ssr *snapshotter) takeFullAndResetTimer(ctx context.Context, isFinal bool, nextFull *time.Time) (*brSnapshot, error) {
	ssr.s.logger.Printf("Taking scheduled full snapshot for time: %s", time.Now().Local())
	snap, err := ssr.takeFull(ctx, isFinal)
	if err != nil {
		ssr.prevFullSucceeded = false
		ssr.s.logger.Printf("Taking scheduled full snapshot failed: %v", err)
		return nil, err
	}
	ssr.prevFullSucceeded = true
	*nextFull = ssr.schedule.next(time.Now())
	ssr.s.logger.Printf("Will take next full snapshot at time: %s", nextFull.String())
	return snap, nil
}

func (ssr *snapshotter) logSkip(key, msg string) {
	if !ssr.skipLogged[key] {
		ssr.s.logger.Print(msg)
		ssr.skipLogged[key] = true
	}
}

// healPending is true once after `testbed-fault heal` cleared a non-empty fault set.
func (ssr *snapshotter) healPending() bool {
	h := ssr.s.faults.healedAt()
	return !h.IsZero() && h.After(ssr.healSeen)
}

func (ssr *snapshotter) healSnapshots(ctx context.Context) error {
	ssr.healSeen = ssr.s.faults.healedAt()
	ssr.skipLogged = map[string]bool{}
	ssr.s.logger.Printf("testbed faults healed: taking a full and a delta snapshot now")
	if _, err := ssr.takeFullWithLease(ctx, false); err != nil {
		return err
	}
	_, err := ssr.takeDeltaWithLease(ctx)
	return err
}

// enforceFaultMetrics reports the stale timestamps of the stale-* faults, unless an on-demand
// snapshot of that kind succeeded after the fault was switched on.
func (ssr *snapshotter) enforceFaultMetrics() {
	// a stale snapshot is one that is owed and not taken: required = 1, as upstream says while its
	// snapshotter cannot take one (gardener's KubeEtcd*BackupFailed alerts only fire then)
	if t, on := ssr.s.faults.since(faultStaleDelta); on && !ssr.onDemandDeltaAt.After(t) {
		metricLatestSnapshotTimestamp.WithLabelValues(kindDelta).Set(float64(t.Add(-staleDeltaAge).Unix()))
		metricSnapshotRequired.WithLabelValues(kindDelta).Set(1)
	}
	if t, on := ssr.s.faults.since(faultStaleFull); on && !ssr.onDemandFullAt.After(t) {
		metricLatestSnapshotTimestamp.WithLabelValues(kindFull).Set(float64(t.Add(-staleFullAge).Unix()))
		metricSnapshotRequired.WithLabelValues(kindFull).Set(1)
	}
}

func (ssr *snapshotter) failIfFaulty(kind string) error {
	if ssr.s.faults.on(faultSnapshotterFailing) {
		metricSnapshotDuration.WithLabelValues(kind, "false").Observe(0)
		return fmt.Errorf("testbed fault snapshotter-failing: %s snapshot could not be saved to the snapstore", strings.ToLower(map[string]string{kindFull: "full", kindDelta: "delta"}[kind]))
	}
	return nil
}

func (ssr *snapshotter) currentRevision(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, ssr.s.o.connectionTimeout)
	defer cancel()
	resp, err := ssr.s.client.Get(ctx, "foo")
	if err != nil {
		return 0, fmt.Errorf("failed to get etcd latest revision: %v", err)
	}
	return resp.Header.Revision, nil
}

func (ssr *snapshotter) writeFile(name string, src io.Reader) error {
	tmp := filepath.Join(ssr.dir, "."+name+".part")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	var w io.WriteCloser = nopCloser{f}
	switch ssr.suffix {
	case ".gz":
		w = gzip.NewWriter(f)
	case ".Z":
		w = lzw.NewWriter(f, lzw.LSB, 8)
	case ".zlib":
		w = zlib.NewWriter(f)
	}
	_, err = io.Copy(w, src)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, filepath.Join(ssr.dir, name))
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// takeFull mirrors Snapshotter.takeFullSnapshot: a final full snapshot over an unchanged final one
// is skipped (the previous snapshot is returned), else etcd's snapshot is saved as
// Full-00000000-<rev>-<unix><suffix>[.final]; the metrics are set as upstream sets them.
func (ssr *snapshotter) takeFull(ctx context.Context, isFinal bool) (*brSnapshot, error) {
	if err := ssr.failIfFaulty(kindFull); err != nil {
		metricSnapshotRequired.WithLabelValues(kindFull).Set(1)
		return nil, err
	}
	begin := time.Now()
	rev, err := ssr.currentRevision(ctx)
	if err != nil {
		return nil, err
	}
	if isFinal && ssr.prev.IsFinal && ssr.prev.Kind == kindFull && ssr.prev.LastRevision == rev {
		ssr.s.logger.Printf("There are no new updates since previous final full snapshot, skipping new final full snapshot.")
	} else {
		sctx, cancel := context.WithTimeout(ctx, ssr.s.o.snapshotTimeout)
		defer cancel()
		rc, err := ssr.s.client.Snapshot(sctx)
		if err != nil {
			metricSnapshotDuration.WithLabelValues(kindFull, "false").Observe(time.Since(begin).Seconds())
			return nil, fmt.Errorf("failed to create etcd snapshot: %v", err)
		}
		defer rc.Close()
		snap := newBrSnapshot(kindFull, 0, rev, ssr.suffix, isFinal)
		if err := ssr.writeFile(snap.SnapName, rc); err != nil {
			metricSnapshotDuration.WithLabelValues(kindFull, "false").Observe(time.Since(begin).Seconds())
			return nil, fmt.Errorf("failed to save snapshot: %v", err)
		}
		metricSnapshotDuration.WithLabelValues(kindFull, "true").Observe(time.Since(begin).Seconds())
		ssr.s.logger.Printf("Total time to save %s snapshot: %f seconds.", kindFull, time.Since(begin).Seconds())
		ssr.prevFull, ssr.prevDeltas, ssr.prev = snap, nil, snap
		metricLatestSnapshotRevision.WithLabelValues(kindFull).Set(float64(rev))
		metricLatestSnapshotTimestamp.WithLabelValues(kindFull).Set(float64(snap.CreatedOn.Unix()))
		metricLatestDeltasTotal.WithLabelValues().Set(0)
		metricLatestDeltasRevisionsTotal.WithLabelValues().Set(0)
		ssr.s.logger.Printf("Successfully saved full snapshot at: %s", path.Join(snap.SnapDir, snap.SnapName))
		ssr.garbageCollect()
	}
	metricSnapshotRequired.WithLabelValues(kindFull).Set(0)
	metricSnapshotRequired.WithLabelValues(kindDelta).Set(0)
	return ssr.prev, nil
}

// takeFullWithLease: a full snapshot, then the full-snapshot Lease (start-up and heal paths).
func (ssr *snapshotter) takeFullWithLease(ctx context.Context, isFinal bool) (*brSnapshot, error) {
	snap, err := ssr.takeFull(ctx, isFinal)
	if err != nil {
		ssr.prevFullSucceeded = false
		return nil, err
	}
	ssr.prevFullSucceeded = true
	ssr.renewFullLease(ctx, snap)
	return snap, nil
}

// renewFullLease mirrors FullSnapshotCaseLeaseUpdate with the latest full snapshot and its
// creation time (upstream fullsnapshotleaseupdate.go / heartbeat.UpdateFullSnapshotLease).
func (ssr *snapshotter) renewFullLease(ctx context.Context, snap *brSnapshot) {
	if ssr.kube != nil && snap != nil {
		ssr.updateLease(ctx, ssr.s.o.fullSnapshotLeaseName, snap.LastRevision, snap.CreatedOn)
	}
}

// renewDeltaLease mirrors DeltaSnapshotCaseLeaseUpdate: the revision of the latest delta since
// the latest full snapshot (none: only a missing holder becomes "0"), renewTime now.
func (ssr *snapshotter) renewDeltaLease(ctx context.Context) {
	if ssr.kube == nil {
		return
	}
	var latest *int64
	rev := int64(0)
	if n := len(ssr.prevDeltas); n > 0 {
		rev = ssr.prevDeltas[n-1].LastRevision
		latest = &rev
	}
	name := ssr.s.o.deltaSnapshotLeaseName
	ssr.leaseCall(ctx, name, rev, func(lctx context.Context, ns string) error {
		return ssr.kube.renewDeltaLease(lctx, ns, name, latest, time.Now())
	})
}

type deltaEvent struct {
	Key            []byte `json:"key"`
	Value          []byte `json:"value"`
	CreateRevision int64  `json:"create_revision"`
	ModRevision    int64  `json:"mod_revision"`
	Version        int64  `json:"version"`
}

// takeDelta mirrors Snapshotter.TakeDeltaSnapshot: nil (and no file) when nothing changed since
// the previous snapshot ("No events received ..."), else Incr-<prev+1>-<rev>-<unix><suffix>.
func (ssr *snapshotter) takeDelta(ctx context.Context) (*brSnapshot, error) {
	if err := ssr.failIfFaulty(kindDelta); err != nil {
		metricSnapshotRequired.WithLabelValues(kindDelta).Set(1)
		return nil, err
	}
	ssr.s.logger.Printf("Taking delta snapshot for time: %s", time.Now().Local())
	begin := time.Now()
	rev, err := ssr.currentRevision(ctx)
	if err != nil {
		return nil, err
	}
	if rev <= ssr.prev.LastRevision && ssr.s.o.skipEmptyDeltas {
		ssr.s.logger.Printf("No events received to save snapshot. Skipping delta snapshot.")
		metricSnapshotRequired.WithLabelValues(kindDelta).Set(0)
		return nil, nil
	}
	var events []deltaEvent
	if rev > ssr.prev.LastRevision {
		gctx, cancel := context.WithTimeout(ctx, ssr.s.o.connectionTimeout)
		resp, err := ssr.s.client.Get(gctx, "\x00", clientv3.WithFromKey(), clientv3.WithMinModRev(ssr.prev.LastRevision+1), clientv3.WithRev(rev))
		cancel()
		if err != nil {
			metricSnapshotDuration.WithLabelValues(kindDelta, "false").Observe(time.Since(begin).Seconds())
			return nil, fmt.Errorf("failed to collect events for delta snapshot: %v", err)
		}
		for _, kv := range resp.Kvs {
			events = append(events, deltaEvent{Key: kv.Key, Value: kv.Value, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision, Version: kv.Version})
		}
	}
	data, _ := json.Marshal(events)
	start := ssr.prev.LastRevision + 1
	if start > rev {
		start = rev
	}
	snap := newBrSnapshot(kindDelta, start, rev, ssr.suffix, false)
	if err := ssr.writeFile(snap.SnapName, strings.NewReader(string(data))); err != nil {
		metricSnapshotDuration.WithLabelValues(kindDelta, "false").Observe(time.Since(begin).Seconds())
		ssr.s.logger.Printf("Error saving delta snapshots. %v", err)
		return nil, fmt.Errorf("failed to save delta snapshot: %v", err)
	}
	metricSnapshotDuration.WithLabelValues(kindDelta, "true").Observe(time.Since(begin).Seconds())
	ssr.s.logger.Printf("Total time to save delta snapshot: %f seconds.", time.Since(begin).Seconds())
	ssr.prevDeltas = append(ssr.prevDeltas, snap)
	ssr.prev = snap
	metricLatestSnapshotRevision.WithLabelValues(kindDelta).Set(float64(rev))
	metricLatestSnapshotTimestamp.WithLabelValues(kindDelta).Set(float64(snap.CreatedOn.Unix()))
	metricSnapshotRequired.WithLabelValues(kindDelta).Set(0)
	if len(events) > 0 {
		// upstream sets required{Full} and {Incr} on every event; the next delta clears Incr,
		// Full stays owed until the next full snapshot (snapshotter.go handleDeltaWatchEvents)
		metricSnapshotRequired.WithLabelValues(kindFull).Set(1)
	}
	metricLatestDeltasTotal.WithLabelValues().Inc()
	metricLatestDeltasRevisionsTotal.WithLabelValues().Add(float64(snap.LastRevision - snap.StartRevision))
	ssr.s.logger.Printf("Successfully saved delta snapshot at: %s", path.Join(snap.SnapDir, snap.SnapName))
	return snap, nil
}

// takeDeltaWithLease: a delta snapshot, then the delta-snapshot Lease when one was taken.
func (ssr *snapshotter) takeDeltaWithLease(ctx context.Context) (*brSnapshot, error) {
	snap, err := ssr.takeDelta(ctx)
	if err == nil && snap != nil && ssr.kube != nil {
		ssr.updateLease(ctx, ssr.s.o.deltaSnapshotLeaseName, snap.LastRevision, snap.CreatedOn)
	}
	return snap, err
}

// garbageCollect keeps the newest --max-backups full snapshots and the deltas of the latest set
// (a simplification of upstream's LimitBased/Exponential garbage collector); only our store
// directory is touched.
func (ssr *snapshotter) garbageCollect() {
	all, err := ssr.list()
	if err != nil {
		return
	}
	var fulls, deltas []*brSnapshot
	for _, sn := range all {
		if filepath.Clean(sn.Prefix) != filepath.Clean(ssr.dir) || sn.IsChunk {
			continue
		}
		if sn.Kind == kindFull {
			fulls = append(fulls, sn)
		} else {
			deltas = append(deltas, sn)
		}
	}
	keep := int(ssr.s.o.maxBackups)
	if keep < 1 {
		keep = 1
	}
	for i, sn := range fulls {
		if i < len(fulls)-keep {
			ok := os.Remove(filepath.Join(ssr.dir, sn.SnapName)) == nil
			metricGCSnapshotCounter.WithLabelValues(kindFull, strconv.FormatBool(ok)).Inc()
		}
	}
	if ssr.prevFull == nil {
		return
	}
	for _, sn := range deltas {
		if sn.LastRevision <= ssr.prevFull.LastRevision && sn.CreatedOn.Unix() < ssr.prevFull.CreatedOn.Unix() {
			ok := os.Remove(filepath.Join(ssr.dir, sn.SnapName)) == nil
			metricGCSnapshotCounter.WithLabelValues(kindDelta, strconv.FormatBool(ok)).Inc()
		}
	}
}

func (ssr *snapshotter) updateLease(ctx context.Context, name string, rev int64, renew time.Time) {
	ssr.leaseCall(ctx, name, rev, func(lctx context.Context, ns string) error {
		_, err := ssr.kube.updateRevisionLease(lctx, ns, name, rev, renew)
		return err
	})
}

// leaseCall runs one Lease update with POD_NAMESPACE and logs a change of its outcome.
func (ssr *snapshotter) leaseCall(ctx context.Context, name string, rev int64, call func(context.Context, string) error) {
	ns := os.Getenv("POD_NAMESPACE")
	var err error
	if ns == "" {
		err = errors.New("Pod namespace env var not present: missing environment variable POD_NAMESPACE")
	} else {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = call(lctx, ns)
		cancel()
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if prev, seen := ssr.leaseErr[name]; !seen || msg != prev {
		if msg == "" {
			ssr.s.logger.Printf("Renewed snapshot lease %s with revision %d", name, rev)
		} else {
			ssr.s.logger.Printf("Snapshot lease update failed : %s", msg)
		}
		ssr.leaseErr[name] = msg
	}
}
