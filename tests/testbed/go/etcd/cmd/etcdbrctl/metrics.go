package main

// Metric names, help texts and labels as gardener/etcd-backup-restore pkg/metrics/metrics.go
// (namespace etcdbr; kind label values Full/Incr/Chunk from pkg/types/snapstore.go);
// label combinations are pre-created at zero as its init() does.

import "github.com/prometheus/client_golang/prometheus"

const (
	kindFull  = "Full"
	kindDelta = "Incr"
	kindChunk = "Chunk"
)

var (
	metricLatestSnapshotRevision = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etcdbr", Subsystem: "snapshot", Name: "latest_revision",
		Help: "Revision number of latest snapshot taken.",
	}, []string{"kind"})
	metricLatestSnapshotTimestamp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etcdbr", Subsystem: "snapshot", Name: "latest_timestamp",
		Help: "Timestamp of latest snapshot taken.",
	}, []string{"kind"})
	metricSnapshotRequired = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etcdbr", Subsystem: "snapshot", Name: "required",
		Help: "Indicates whether a snapshot is required to be taken.",
	}, []string{"kind"})
	metricSnapshotDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "etcdbr", Subsystem: "snapshot", Name: "duration_seconds",
		Help: "Total latency distribution of saving snapshot to object store.",
	}, []string{"kind", "succeeded"})
	metricGCSnapshotCounter = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcdbr", Subsystem: "snapshot", Name: "gc_total",
		Help: "Total number of garbage collected snapshots.",
	}, []string{"kind", "succeeded"})
	metricLatestDeltasTotal = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etcdbr", Subsystem: "snapstore", Name: "latest_deltas_total",
		Help: "Total number of delta snapshots taken since the latest full snapshot.",
	}, []string{})
	metricLatestDeltasRevisionsTotal = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etcdbr", Subsystem: "snapstore", Name: "latest_deltas_revisions_total",
		Help: "Total number of revisions stored in delta snapshots taken since the latest full snapshot.",
	}, []string{})
	metricSnapshotterFailure = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcdbr", Subsystem: "snapshotter", Name: "failure",
		Help: "Total number of snapshotter errors.",
	}, []string{"error"})
	metricClusterSize = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etcdbr", Name: "cluster_size",
		Help: "Current Etcd cluster size.",
	}, []string{})
	metricIsLearner = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etcdbr", Name: "is_learner",
		Help: "Whether or not this member is a learner. 1 if is, 0 otherwise",
	}, []string{})
)

func init() {
	for _, k := range []string{kindFull, kindDelta, kindChunk} {
		metricLatestSnapshotRevision.WithLabelValues(k)
		metricLatestSnapshotTimestamp.WithLabelValues(k)
		metricSnapshotRequired.WithLabelValues(k)
		for _, s := range []string{"false", "true"} {
			metricSnapshotDuration.WithLabelValues(k, s)
			metricGCSnapshotCounter.WithLabelValues(k, s)
		}
	}
	metricLatestDeltasTotal.WithLabelValues()
	metricLatestDeltasRevisionsTotal.WithLabelValues()
	metricSnapshotterFailure.WithLabelValues("")
	metricClusterSize.WithLabelValues()
	metricIsLearner.WithLabelValues()
	prometheus.MustRegister(metricLatestSnapshotRevision, metricLatestSnapshotTimestamp, metricSnapshotRequired,
		metricSnapshotDuration, metricGCSnapshotCounter, metricLatestDeltasTotal, metricLatestDeltasRevisionsTotal,
		metricSnapshotterFailure, metricClusterSize, metricIsLearner)
}
