package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/spf13/cobra"
	flag "github.com/spf13/pflag"
)

// options holds every flag upstream's `etcdbrctl server` accepts
// (pkg/server/init.go AddFlags and the configs it aggregates), with upstream's
// defaults. Flags we only accept (restoration, GC, compaction, secondary store,
// backoff, ...) are parsed and otherwise ignored.
type options struct {
	configFile string
	logLevel   uint32

	// pkg/types/etcdconnection.go
	endpoints          []string
	serviceEndpoints   []string
	username, password string
	connectionTimeout  time.Duration
	snapshotTimeout    time.Duration
	defragTimeout      time.Duration
	insecureTransport  bool
	insecureSkipVerify bool
	certFile, keyFile  string
	caFile             string

	// pkg/server/init.go HTTPServerConfig + top level
	serverPort              uint
	enableProfiling         bool
	serverCert, serverKey   string
	defragmentationSchedule string
	useEtcdWrapper          bool

	// pkg/types/snapshotter.go
	fullSnapshotSchedule         string
	deltaSnapshotPeriod          time.Duration
	deltaSnapshotMemoryLimit     uint
	garbageCollectionPeriod      time.Duration
	garbageCollectionPolicy      string
	maxBackups                   uint
	deltaSnapshotRetentionPeriod time.Duration

	// pkg/types/snapstore.go (primary and secondary)
	storageProvider, storeContainer, storeEndpointOverride, storePrefix string
	maxParallelChunkUploads                                             uint
	minChunkSize                                                        int64
	snapstoreTempDir                                                    string
	secondary                                                           struct {
		provider, container, endpointOverride, prefix, tempDir string
		maxParallelChunkUploads                                uint
		minChunkSize                                           int64
	}
	secondaryBackupSyncEnabled bool
	secondaryBackupSyncPeriod  time.Duration

	// pkg/types/restorer.go
	initialCluster, initialClusterToken, dataDir, tempSnapshotsDir, name string
	initialAdvertisePeerURLs                                             []string
	skipHashCheck                                                        bool
	maxFetchers                                                          uint
	maxCallSendMsgSize                                                   int
	maxRequestBytes, maxTxnOps                                           uint
	embeddedEtcdQuotaBytes                                               int64
	autoCompactionMode, autoCompactionRetention                          string

	// pkg/compressor/init.go
	compressSnapshots bool
	compressionPolicy string

	// pkg/types/health.go
	snapshotLeaseRenewal   bool
	memberLeaseRenewal     bool
	heartbeatDuration      time.Duration
	fullSnapshotLeaseName  string
	deltaSnapshotLeaseName string

	// pkg/types/leaderelection.go
	leaderElectionTimeout time.Duration
	reelectionPeriod      time.Duration

	// pkg/types/exponentialbackoff.go
	backoffMultiplier, backoffAttemptLimit uint
	backoffThresholdTime                   time.Duration

	// upstream skips a delta snapshot when no event arrived since the previous
	// snapshot (pkg/snapshot/snapshotter/snapshotter.go); --testbed-skip-empty-deltas=false
	// (ours, testbed only) takes an empty one anyway.
	skipEmptyDeltas bool
}

func (o *options) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.configFile, "config-file", "", "path to the configuration file (accepted, not read by the stand-in)")
	fs.Uint32Var(&o.logLevel, "log-level", 4, "verbosity level of logs")

	fs.StringSliceVarP(&o.endpoints, "endpoints", "e", []string{"http://127.0.0.1:2379"}, "comma separated list of etcd endpoints")
	fs.StringSliceVar(&o.serviceEndpoints, "service-endpoints", nil, "comma separated list of etcd endpoints that are used for etcd-backup-restore to connect to etcd through a (Kubernetes) service")
	fs.StringVar(&o.username, "etcd-username", "", "etcd server username, if one is required")
	fs.StringVar(&o.password, "etcd-password", "", "etcd server password, if one is required")
	fs.DurationVar(&o.connectionTimeout, "etcd-connection-timeout", 30*time.Second, "etcd client connection timeout")
	fs.DurationVar(&o.snapshotTimeout, "etcd-snapshot-timeout", 15*time.Minute, "timeout duration for taking etcd snapshots")
	fs.DurationVar(&o.defragTimeout, "etcd-defrag-timeout", 8*time.Minute, "timeout duration for etcd defrag call")
	fs.BoolVar(&o.insecureTransport, "insecure-transport", true, "disable transport security for client connections")
	fs.BoolVar(&o.insecureSkipVerify, "insecure-skip-tls-verify", true, "skip server certificate verification")
	fs.StringVar(&o.certFile, "cert", "", "identify secure client using this TLS certificate file")
	fs.StringVar(&o.keyFile, "key", "", "identify secure client using this TLS key file")
	fs.StringVar(&o.caFile, "cacert", "", "verify certificates of TLS-enabled secure servers using this CA bundle")

	fs.UintVarP(&o.serverPort, "server-port", "p", 8080, "port on which server should listen")
	fs.BoolVar(&o.enableProfiling, "enable-profiling", false, "enable profiling (accepted, ignored)")
	fs.StringVar(&o.serverCert, "server-cert", "", "TLS certificate file for backup-restore server")
	fs.StringVar(&o.serverKey, "server-key", "", "TLS key file for backup-restore server")
	fs.StringVar(&o.defragmentationSchedule, "defragmentation-schedule", "0 0 */3 * *", "schedule to defragment etcd data directory (validated, not run)")
	fs.BoolVar(&o.useEtcdWrapper, "use-etcd-wrapper", false, "to enable backup-restore to use etcd-wrapper related functionality")

	fs.StringVarP(&o.fullSnapshotSchedule, "schedule", "s", "0 */1 * * *", "schedule for snapshots")
	fs.DurationVar(&o.deltaSnapshotPeriod, "delta-snapshot-period", 20*time.Second, "Period after which delta snapshot will be persisted. If this value is set to be lesser than 1 second, delta snapshotting will be disabled.")
	fs.UintVar(&o.deltaSnapshotMemoryLimit, "delta-snapshot-memory-limit", 10*1024*1024, "memory limit after which delta snapshots will be taken")
	fs.DurationVar(&o.garbageCollectionPeriod, "garbage-collection-period", time.Minute, "Period for garbage collecting old backups")
	fs.StringVar(&o.garbageCollectionPolicy, "garbage-collection-policy", "Exponential", "Policy for garbage collecting old backups")
	fs.UintVarP(&o.maxBackups, "max-backups", "m", 7, "maximum number of previous backups to keep")
	fs.DurationVar(&o.deltaSnapshotRetentionPeriod, "delta-snapshot-retention-period", 0, "retention period for older delta snapshots")

	fs.StringVar(&o.storageProvider, "storage-provider", "", "snapshot storage provider")
	fs.StringVar(&o.storeContainer, "store-container", "", "container which will be used as snapstore")
	fs.StringVar(&o.storeEndpointOverride, "store-endpoint-override", "", "endpoint that will be used to override the default endpoint of the storage provider")
	fs.StringVar(&o.storePrefix, "store-prefix", "", "prefix or directory inside container under which snapstore is created")
	fs.UintVar(&o.maxParallelChunkUploads, "max-parallel-chunk-uploads", 5, "maximum number of parallel chunk uploads allowed")
	fs.Int64Var(&o.minChunkSize, "min-chunk-size", 5*1024*1024, "Minimum size for multipart chunk upload")
	fs.StringVar(&o.snapstoreTempDir, "snapstore-temp-directory", "/tmp", "temporary directory for processing")
	fs.StringVar(&o.secondary.provider, "secondary-storage-provider", "", "snapshot storage provider")
	fs.StringVar(&o.secondary.container, "secondary-store-container", "", "container which will be used as snapstore")
	fs.StringVar(&o.secondary.endpointOverride, "secondary-store-endpoint-override", "", "endpoint override")
	fs.StringVar(&o.secondary.prefix, "secondary-store-prefix", "", "prefix inside container")
	fs.UintVar(&o.secondary.maxParallelChunkUploads, "secondary-max-parallel-chunk-uploads", 5, "maximum number of parallel chunk uploads allowed")
	fs.Int64Var(&o.secondary.minChunkSize, "secondary-min-chunk-size", 5*1024*1024, "Minimum size for multipart chunk upload")
	fs.StringVar(&o.secondary.tempDir, "secondary-snapstore-temp-directory", "/tmp", "temporary directory for processing")
	fs.BoolVar(&o.secondaryBackupSyncEnabled, "secondary-backup-sync-enabled", false, "enable secondary backup-sync feature (accepted, ignored)")
	fs.DurationVar(&o.secondaryBackupSyncPeriod, "secondary-backup-sync-period", time.Hour, "period for periodic backup sync operations")

	fs.StringVar(&o.initialCluster, "initial-cluster", "default=http://localhost:2380", "initial cluster configuration for restore bootstrap")
	fs.StringVar(&o.initialClusterToken, "initial-cluster-token", "etcd-cluster", "initial cluster token for the etcd cluster during restore bootstrap")
	fs.StringVarP(&o.dataDir, "data-dir", "d", "default.etcd", "path to the data directory")
	fs.StringVar(&o.tempSnapshotsDir, "restoration-temp-snapshots-dir", "default.restoration.tmp", "path to the temporary directory to store snapshot files during restoration")
	fs.StringArrayVar(&o.initialAdvertisePeerURLs, "initial-advertise-peer-urls", []string{"http://localhost:2380"}, "list of this member's peer URLs to advertise to the rest of the cluster")
	fs.StringVar(&o.name, "name", "default", "human-readable name for this member")
	fs.BoolVar(&o.skipHashCheck, "skip-hash-check", false, "ignore snapshot integrity hash value")
	fs.UintVar(&o.maxFetchers, "max-fetchers", 6, "maximum number of threads that will fetch delta snapshots in parallel")
	fs.IntVar(&o.maxCallSendMsgSize, "max-call-send-message-size", 10*1024*1024, "maximum size of message that the client sends")
	fs.UintVar(&o.maxRequestBytes, "max-request-bytes", 10*1024*1024, "Maximum client request size in bytes the server will accept")
	fs.UintVar(&o.maxTxnOps, "max-txn-ops", 10*1024, "Maximum number of operations permitted in a transaction")
	fs.Int64Var(&o.embeddedEtcdQuotaBytes, "embedded-etcd-quota-bytes", 8*1024*1024*1024, "maximum backend quota for the embedded etcd used for applying delta snapshots")
	fs.StringVar(&o.autoCompactionMode, "auto-compaction-mode", "periodic", "mode for auto-compaction")
	fs.StringVar(&o.autoCompactionRetention, "auto-compaction-retention", "30m", "Auto-compaction retention length.")

	fs.BoolVar(&o.compressSnapshots, "compress-snapshots", true, "whether to compress the snapshots or not")
	fs.StringVar(&o.compressionPolicy, "compression-policy", "gzip", "Policy for compressing the snapshots")

	fs.BoolVar(&o.snapshotLeaseRenewal, "enable-snapshot-lease-renewal", false, "Allows sidecar to renew the snapshot leases when snapshots are taken")
	fs.BoolVar(&o.memberLeaseRenewal, "enable-member-lease-renewal", false, "Allows sidecar to periodically renew the member leases")
	fs.DurationVar(&o.heartbeatDuration, "k8s-heartbeat-duration", 30*time.Second, "Heartbeat duration")
	fs.StringVar(&o.fullSnapshotLeaseName, "full-snapshot-lease-name", "full-snapshot-revisions", "full snapshot lease name")
	fs.StringVar(&o.deltaSnapshotLeaseName, "delta-snapshot-lease-name", "delta-snapshot-revisions", "delta snapshot lease name")

	fs.DurationVar(&o.leaderElectionTimeout, "etcd-connection-timeout-leader-election", 5*time.Second, "timeout duration of etcd client connection during leader election")
	fs.DurationVar(&o.reelectionPeriod, "reelection-period", 5*time.Second, "period after which election will be re-triggered to check the leadership status")

	fs.UintVar(&o.backoffMultiplier, "backoff-multiplier", 2, "multiplicative factor for backoff mechanism")
	fs.UintVar(&o.backoffAttemptLimit, "backoff-attempt-limit", 6, "threshold no. of attempt limit")
	fs.DurationVar(&o.backoffThresholdTime, "backoff-threshold-time", 128*time.Second, "upper bound backoff time")

	fs.BoolVar(&o.skipEmptyDeltas, "testbed-skip-empty-deltas", true, "testbed only: skip delta snapshots without new revisions, as upstream does (false: take empty ones)")
}

// validate mirrors the checks upstream runs before starting (snapshotter, compression, GC policy, cron schedules).
func (o *options) validate() error {
	if _, err := parseCron(o.fullSnapshotSchedule); err != nil {
		return fmt.Errorf("invalid full snapshot schedule %q: %w", o.fullSnapshotSchedule, err)
	}
	if _, err := parseCron(o.defragmentationSchedule); err != nil {
		return fmt.Errorf("invalid defragmentation schedule %q: %w", o.defragmentationSchedule, err)
	}
	if o.garbageCollectionPolicy != "LimitBased" && o.garbageCollectionPolicy != "Exponential" {
		return fmt.Errorf("invalid garbage collection policy: %s", o.garbageCollectionPolicy)
	}
	if o.garbageCollectionPolicy == "LimitBased" && o.maxBackups == 0 {
		return fmt.Errorf("max backups should be greather than zero for garbage collection policy set to limit based")
	}
	if o.compressSnapshots {
		switch o.compressionPolicy {
		case "gzip", "lzw", "zlib":
		default:
			return fmt.Errorf("%s: compression policy is not supported", o.compressionPolicy)
		}
	}
	if o.maxParallelChunkUploads == 0 {
		return fmt.Errorf("max parallel chunk uploads should be greater than zero")
	}
	if o.minChunkSize < 5*1024*1024 {
		return fmt.Errorf("min chunk size for multi-part chunk upload should be greater than or equal to 5 MiB")
	}
	return nil
}

func newServerCommand(ctx context.Context) *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "start the http server with backup scheduler.",
		Long:  `Server will keep listening for http request to deliver its functionality through http endpoints.`,
		Run: func(_ *cobra.Command, _ []string) {
			logger := log.New(os.Stderr, "", log.LstdFlags|log.LUTC)
			if err := o.validate(); err != nil {
				logger.Fatalf("failed to validate the options: %v", err)
			}
			if err := runServer(ctx, o, logger); err != nil {
				logger.Fatalf("failed to run server: %v", err)
			}
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}
