// Command etcdbrctl is the test fleet's stand-in for gardener/etcd-backup-restore.
// Only the `server` sub-command is implemented (plus our own `testbed-fault`).
//
// Behaviour follows gardener/etcd-backup-restore (read, not copied):
//   - main.go, cmd/root.go, cmd/server.go, cmd/options.go: cobra commands, umask, signals;
//   - pkg/server/init.go, pkg/types/*.go, pkg/compressor/init.go, pkg/snapstore/utils.go: flags and defaults;
//   - pkg/server/httpAPI.go: /initialization/*, /config, /healthz, /metrics, /snapshot/{full,delta,latest}
//     and the delegation of /snapshot/* from a non-leading sidecar to the leader (snapapi.go);
//   - pkg/server/backuprestoreserver.go: start-up, probe loop, leader callbacks;
//   - pkg/leaderelection/leaderelection.go: leader = own member is the etcd leader (Status call);
//   - pkg/health/heartbeat/heartbeat.go: member and snapshot Lease renewal;
//   - pkg/miscellaneous/miscellaneous.go: member name (member-name-prefix), config file path;
//   - pkg/metrics/metrics.go: metric names and labels;
//   - pkg/snapshot/snapshotter/snapshotter.go: when the snapshot metrics are set.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	// upstream main.go: files written by etcdbrctl are private to its user
	syscall.Umask(0077)
	ctx := setupSignalHandler()
	root := &cobra.Command{
		Use:   "etcdbrctl",
		Short: "command line utility for etcd backup restore (etcdops test-fleet stand-in)",
		Run:   func(cmd *cobra.Command, _ []string) { _ = cmd.Help() },
	}
	root.AddCommand(newServerCommand(ctx), newFaultCommand())
	if err := root.Execute(); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
}

// setupSignalHandler as upstream main.go: the first SIGINT/SIGTERM cancels, a second exits.
func setupSignalHandler() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	c := make(chan os.Signal, 2)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-c
		cancel()
		<-c
		os.Exit(1)
	}()
	return ctx
}
