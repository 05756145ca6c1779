//go:build tools

// Package tools pins the etcdctl and etcdutl commands that build.sh builds
// from this module, at the same version as the embedded etcd server.
package tools

import (
	_ "go.etcd.io/etcd/etcdctl/v3"
	_ "go.etcd.io/etcd/etcdutl/v3"
)
