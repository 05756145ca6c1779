package main

// A small snapshotter for the leading sidecar, modelled on upstream
// pkg/snapshot/snapshotter/snapshotter.go and pkg/snapstore/local_snapstore.go:
// full snapshots are real etcd snapshots (Maintenance.Snapshot) written as
// <store>/Full-<start>-<last>-<unix><suffix>; delta snapshots are cheap: the
// key-values modified since the previous snapshot's revision (Get with
// min-mod-revision, deletions are not recorded) written as Incr-... files.
// Metrics and Lease updates are set where upstream sets them.

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
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

type snapInfo struct {
	kind        string
	start, last int64
	created     time.Time
	name        string
}

type snapshotter struct {
	s          *server
	dir        string
	schedule   *cronSchedule
	kube       *kubeClient
	suffix     string
	prevFull   *snapInfo
	prevDeltas []snapInfo
	last       snapInfo
	healSeen   time.Time
	leaseErr   map[string]string
	skipLogged map[string]bool
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
		leaseErr: map[string]string{}, skipLogged: map[string]bool{}}
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
	return ssr.prevFull.name
}

func parseSnapName(name string) (snapInfo, bool) {
	base := name
	for _, suf := range []string{".gz", ".Z", ".zlib"} {
		base = strings.TrimSuffix(base, suf)
	}
	p := strings.Split(base, "-")
	if len(p) != 4 || (p[0] != kindFull && p[0] != kindDelta) {
		return snapInfo{}, false
	}
	start, err1 := strconv.ParseInt(p[1], 10, 64)
	last, err2 := strconv.ParseInt(p[2], 10, 64)
	unix, err3 := strconv.ParseInt(p[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return snapInfo{}, false
	}
	return snapInfo{kind: p[0], start: start, last: last, created: time.Unix(unix, 0), name: name}, true
}

func (ssr *snapshotter) list() []snapInfo {
	entries, _ := os.ReadDir(ssr.dir)
	var out []snapInfo
	for _, e := range entries {
		if si, ok := parseSnapName(e.Name()); ok && !e.IsDir() {
			out = append(out, si)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].created.Equal(out[j].created) {
			return out[i].created.Before(out[j].created)
		}
		return out[i].last < out[j].last
	})
	return out
}

// loadStore sets the previous snapshots and the timestamp metrics as upstream NewSnapshotter does.
func (ssr *snapshotter) loadStore() error {
	ssr.prevFull, ssr.prevDeltas = nil, nil
	for _, si := range ssr.list() {
		si := si
		if si.kind == kindFull {
			ssr.prevFull, ssr.prevDeltas = &si, nil
		} else if ssr.prevFull != nil {
			ssr.prevDeltas = append(ssr.prevDeltas, si)
		}
	}
	switch {
	case ssr.prevFull != nil && len(ssr.prevDeltas) == 0:
		ssr.last = *ssr.prevFull
		metricLatestSnapshotTimestamp.WithLabelValues(kindFull).Set(float64(ssr.prevFull.created.Unix()))
		metricLatestSnapshotTimestamp.WithLabelValues(kindDelta).Set(float64(ssr.prevFull.created.Unix()))
	case ssr.prevFull != nil:
		ssr.last = ssr.prevDeltas[len(ssr.prevDeltas)-1]
		metricLatestSnapshotTimestamp.WithLabelValues(kindFull).Set(float64(ssr.prevFull.created.Unix()))
		metricLatestSnapshotTimestamp.WithLabelValues(kindDelta).Set(float64(ssr.last.created.Unix()))
	default:
		ssr.last = snapInfo{kind: kindFull}
	}
	metricLatestSnapshotRevision.WithLabelValues(ssr.last.kind).Set(float64(ssr.last.last))
	return nil
}

// run takes the start-up snapshot (full when none is recent enough, else a
// delta), then deltas every --delta-snapshot-period and fulls per --schedule,
// until ctx ends (nil) or a snapshot fails (the error).
func (ssr *snapshotter) run(ctx context.Context) error {
	f := ssr.s.faults
	now := time.Now()
	window := ssr.schedule.interval(now)
	fullRequired := ssr.prevFull == nil || now.Sub(ssr.prevFull.created) > window
	if ssr.healPending() {
		if err := ssr.healSnapshots(ctx); err != nil {
			return err
		}
	} else if fullRequired && !f.on(faultStaleFull) {
		metricSnapshotRequired.WithLabelValues(kindDelta).Set(0)
		metricSnapshotRequired.WithLabelValues(kindFull).Set(1)
		if err := ssr.takeFull(ctx); err != nil {
			return err
		}
	} else if !f.on(faultStaleDelta) {
		if err := ssr.takeDelta(ctx); err != nil {
			return err
		}
	}

	ssr.enforceFaultMetrics()
	ssr.s.logger.Printf("Snapshotter running: deltas every %s, next full snapshot at %s", ssr.s.o.deltaSnapshotPeriod, ssr.schedule.next(time.Now()).Format(time.RFC3339))

	nextFull := ssr.schedule.next(time.Now())
	var deltaC <-chan time.Time
	if ssr.s.o.deltaSnapshotPeriod >= time.Second {
		t := time.NewTicker(ssr.s.o.deltaSnapshotPeriod)
		defer t.Stop()
		deltaC = t.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			ssr.s.logger.Printf("Snapshotter stopped.")
			return nil
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
				if err := ssr.takeDelta(ctx); err != nil {
					return err
				}
			}
		case <-deltaC:
			if f.on(faultStaleDelta) {
				ssr.logSkip(faultStaleDelta, "delta snapshots skipped (testbed fault stale-delta)")
				continue
			}
			ssr.skipLogged[faultStaleDelta] = false
			if err := ssr.takeDelta(ctx); err != nil {
				return err
			}
		case now := <-tick.C:
			if !now.Before(nextFull) {
				nextFull = ssr.schedule.next(now)
				if f.on(faultStaleFull) {
					ssr.logSkip(faultStaleFull, "scheduled full snapshot skipped (testbed fault stale-full)")
				} else if err := ssr.takeFull(ctx); err != nil {
					return err
				}
			}
			ssr.enforceFaultMetrics()
		}
	}
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
	if err := ssr.takeFull(ctx); err != nil {
		return err
	}
	return ssr.takeDelta(ctx)
}

// enforceFaultMetrics reports the stale timestamps of the stale-* faults.
func (ssr *snapshotter) enforceFaultMetrics() {
	// a stale snapshot is one that is owed and not taken: required = 1, as upstream says while its
	// snapshotter cannot take one (gardener's KubeEtcd*BackupFailed alerts only fire then)
	if t, on := ssr.s.faults.since(faultStaleDelta); on {
		metricLatestSnapshotTimestamp.WithLabelValues(kindDelta).Set(float64(t.Add(-staleDeltaAge).Unix()))
		metricSnapshotRequired.WithLabelValues(kindDelta).Set(1)
	}
	if t, on := ssr.s.faults.since(faultStaleFull); on {
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

func (ssr *snapshotter) takeFull(ctx context.Context) error {
	if err := ssr.failIfFaulty(kindFull); err != nil {
		metricSnapshotRequired.WithLabelValues(kindFull).Set(1)
		return err
	}
	begin := time.Now()
	rev, err := ssr.currentRevision(ctx)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, ssr.s.o.snapshotTimeout)
	defer cancel()
	rc, err := ssr.s.client.Snapshot(sctx)
	if err != nil {
		metricSnapshotDuration.WithLabelValues(kindFull, "false").Observe(time.Since(begin).Seconds())
		return fmt.Errorf("failed to create etcd snapshot: %v", err)
	}
	defer rc.Close()
	created := time.Now()
	si := snapInfo{kind: kindFull, start: 0, last: rev, created: created}
	si.name = fmt.Sprintf("%s-%08d-%08d-%d%s", kindFull, si.start, si.last, created.Unix(), ssr.suffix)
	if err := ssr.writeFile(si.name, rc); err != nil {
		metricSnapshotDuration.WithLabelValues(kindFull, "false").Observe(time.Since(begin).Seconds())
		return fmt.Errorf("failed to save full snapshot: %v", err)
	}
	metricSnapshotDuration.WithLabelValues(kindFull, "true").Observe(time.Since(begin).Seconds())
	ssr.prevFull, ssr.prevDeltas, ssr.last = &si, nil, si
	metricLatestSnapshotRevision.WithLabelValues(kindFull).Set(float64(rev))
	metricLatestSnapshotTimestamp.WithLabelValues(kindFull).Set(float64(created.Unix()))
	metricLatestDeltasTotal.WithLabelValues().Set(0)
	metricLatestDeltasRevisionsTotal.WithLabelValues().Set(0)
	metricSnapshotRequired.WithLabelValues(kindFull).Set(0)
	metricSnapshotRequired.WithLabelValues(kindDelta).Set(0)
	ssr.s.logger.Printf("Successfully saved full snapshot at: %s", filepath.Join(ssr.dir, si.name))
	ssr.garbageCollect()
	if ssr.kube != nil {
		ssr.updateLease(ctx, ssr.s.o.fullSnapshotLeaseName, rev, created)
	}
	return nil
}

type deltaEvent struct {
	Key            []byte `json:"key"`
	Value          []byte `json:"value"`
	CreateRevision int64  `json:"create_revision"`
	ModRevision    int64  `json:"mod_revision"`
	Version        int64  `json:"version"`
}

func (ssr *snapshotter) takeDelta(ctx context.Context) error {
	if err := ssr.failIfFaulty(kindDelta); err != nil {
		metricSnapshotRequired.WithLabelValues(kindDelta).Set(1)
		return err
	}
	begin := time.Now()
	rev, err := ssr.currentRevision(ctx)
	if err != nil {
		return err
	}
	if rev <= ssr.last.last && ssr.s.o.skipEmptyDeltas {
		metricSnapshotRequired.WithLabelValues(kindDelta).Set(0)
		return nil // upstream: "No events received to save snapshot. Skipping delta snapshot."
	}
	var events []deltaEvent
	if rev > ssr.last.last {
		gctx, cancel := context.WithTimeout(ctx, ssr.s.o.connectionTimeout)
		resp, err := ssr.s.client.Get(gctx, "\x00", clientv3.WithFromKey(), clientv3.WithMinModRev(ssr.last.last+1), clientv3.WithRev(rev))
		cancel()
		if err != nil {
			metricSnapshotDuration.WithLabelValues(kindDelta, "false").Observe(time.Since(begin).Seconds())
			return fmt.Errorf("failed to collect events for delta snapshot: %v", err)
		}
		for _, kv := range resp.Kvs {
			events = append(events, deltaEvent{Key: kv.Key, Value: kv.Value, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision, Version: kv.Version})
		}
	}
	data, _ := json.Marshal(events)
	created := time.Now()
	start := ssr.last.last + 1
	if start > rev {
		start = rev
	}
	si := snapInfo{kind: kindDelta, start: start, last: rev, created: created}
	si.name = fmt.Sprintf("%s-%08d-%08d-%d%s", kindDelta, si.start, si.last, created.Unix(), ssr.suffix)
	if err := ssr.writeFile(si.name, strings.NewReader(string(data))); err != nil {
		metricSnapshotDuration.WithLabelValues(kindDelta, "false").Observe(time.Since(begin).Seconds())
		return fmt.Errorf("failed to save delta snapshot: %v", err)
	}
	metricSnapshotDuration.WithLabelValues(kindDelta, "true").Observe(time.Since(begin).Seconds())
	revs := si.last - ssr.last.last
	if revs < 0 {
		revs = 0
	}
	ssr.prevDeltas = append(ssr.prevDeltas, si)
	ssr.last = si
	metricLatestSnapshotRevision.WithLabelValues(kindDelta).Set(float64(rev))
	metricLatestSnapshotTimestamp.WithLabelValues(kindDelta).Set(float64(created.Unix()))
	metricSnapshotRequired.WithLabelValues(kindDelta).Set(0)
	if len(events) > 0 {
		// upstream sets required{Full} and {Incr} on every event; the next delta clears Incr,
		// Full stays owed until the next full snapshot (snapshotter.go handleDeltaWatchEvents)
		metricSnapshotRequired.WithLabelValues(kindFull).Set(1)
	}
	metricLatestDeltasTotal.WithLabelValues().Inc()
	metricLatestDeltasRevisionsTotal.WithLabelValues().Add(float64(revs))
	if ssr.kube != nil {
		ssr.updateLease(ctx, ssr.s.o.deltaSnapshotLeaseName, rev, created)
	}
	return nil
}

// garbageCollect keeps the newest --max-backups full snapshots and the deltas of the latest set
// (a simplification of upstream's LimitBased/Exponential garbage collector).
func (ssr *snapshotter) garbageCollect() {
	all := ssr.list()
	var fulls []snapInfo
	for _, si := range all {
		if si.kind == kindFull {
			fulls = append(fulls, si)
		}
	}
	keep := int(ssr.s.o.maxBackups)
	if keep < 1 {
		keep = 1
	}
	for i, si := range fulls {
		if i < len(fulls)-keep {
			ok := os.Remove(filepath.Join(ssr.dir, si.name)) == nil
			metricGCSnapshotCounter.WithLabelValues(kindFull, strconv.FormatBool(ok)).Inc()
		}
	}
	if ssr.prevFull == nil {
		return
	}
	for _, si := range all {
		if si.kind == kindDelta && si.created.Before(ssr.prevFull.created) {
			ok := os.Remove(filepath.Join(ssr.dir, si.name)) == nil
			metricGCSnapshotCounter.WithLabelValues(kindDelta, strconv.FormatBool(ok)).Inc()
		}
	}
}

func (ssr *snapshotter) updateLease(ctx context.Context, name string, rev int64, renew time.Time) {
	ns := os.Getenv("POD_NAMESPACE")
	var err error
	if ns == "" {
		err = errors.New("Pod namespace env var not present: missing environment variable POD_NAMESPACE")
	} else {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = ssr.kube.updateRevisionLease(lctx, ns, name, rev, renew)
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
