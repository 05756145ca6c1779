package main

// On-demand snapshot endpoints, as upstream pkg/server/httpAPI.go serves them
// (serveFullSnapshotTrigger, serveDeltaSnapshotTrigger, serveLatestSnapshotMetadata,
// delegateReqToLeader, IsBackupRestoreHealthy) with its status codes, bodies and log lines:
//   - leading sidecar (snapshotter set): 200 + the brtypes.Snapshot JSON (`null` for a delta
//     without new events), 500 when the snapshotter is not active or the snapshot fails
//     (empty body), 400 for a `final` that is not a Go bool;
//   - no snapshotter, storage provider set (a follower): the request is reverse-proxied to the
//     backup-restore beside the etcd leader; 405 (empty body) when that cannot be found or is
//     not healthy;
//   - no snapshotter, no storage provider: 405.
// Any HTTP method is accepted, as upstream's mux does.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// latestSnapshotMetadataResponse is upstream's pkg/server/types.go type of the same name.
type latestSnapshotMetadataResponse struct {
	FullSnapshot   *brSnapshot   `json:"fullSnapshot"`
	DeltaSnapshots []*brSnapshot `json:"deltaSnapshots"`
}

func (s *server) setSnapshotter(ssr *snapshotter) {
	s.ssrMu.Lock()
	defer s.ssrMu.Unlock()
	s.ssr = ssr
}

func (s *server) currentSnapshotter() *snapshotter {
	s.ssrMu.Lock()
	defer s.ssrMu.Unlock()
	return s.ssr
}

// writeJSON: 200 and the JSON of v, as the handlers end (a marshal error is a 500).
func (s *server) writeJSON(w http.ResponseWriter, v any, what string) {
	out, err := json.Marshal(v)
	if err != nil {
		s.logger.Printf("Unable to marshal %s to json: %v", what, err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
	if _, err = w.Write(out); err != nil {
		s.logger.Printf("Unable to write latest snapshot metadata response: %v", err)
	}
}

func (s *server) serveFullSnapshotTrigger(w http.ResponseWriter, r *http.Request) {
	s.securityHeaders(w)
	ssr := s.currentSnapshotter()
	if ssr == nil {
		if s.o.storageProvider != "" {
			s.logger.Printf("Fowarding the request to take out-of-schedule full snapshot to backup-restore leader")
			s.delegateReqToLeader(w, r)
			return
		}
		s.logger.Printf("Ignoring out-of-schedule full snapshot request as snapshotter is not configured")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	isFinal := false
	if v := r.URL.Query().Get("final"); v != "" {
		var err error
		if isFinal, err = strconv.ParseBool(v); err != nil {
			s.logger.Printf("Could not parse request parameter 'final' to bool: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
	}
	snap, err := ssr.triggerFull(r.Context(), isFinal)
	if err != nil {
		s.logger.Printf("Skipped triggering out-of-schedule full snapshot: %v", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	s.writeJSON(w, snap, "out-of-schedule full snapshot")
}

func (s *server) serveDeltaSnapshotTrigger(w http.ResponseWriter, r *http.Request) {
	s.securityHeaders(w)
	ssr := s.currentSnapshotter()
	if ssr == nil {
		if s.o.storageProvider != "" {
			s.logger.Printf("Fowarding the request to take out-of-schedule delta snapshot to backup-restore leader")
			s.delegateReqToLeader(w, r)
			return
		}
		s.logger.Printf("Ignoring out-of-schedule delta snapshot request as snapshotter is not configured")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	snap, err := ssr.triggerDelta(r.Context())
	if err != nil {
		s.logger.Printf("Skipped triggering out-of-schedule delta snapshot: %v", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	// upstream marshals the *Snapshot as is: no new events -> 200 with body `null`
	s.writeJSON(w, snap, "out-of-schedule delta snapshot")
}

func (s *server) serveLatestSnapshotMetadata(w http.ResponseWriter, r *http.Request) {
	s.securityHeaders(w)
	ssr := s.currentSnapshotter()
	if ssr == nil {
		if s.o.storageProvider != "" {
			s.logger.Printf("Fowarding the request of latest snapshot metadata to backup-restore leader")
			s.delegateReqToLeader(w, r)
			return
		}
		s.logger.Printf("Ignoring latest snapshot metadata request as snapshotter is not configured")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	// upstream lists the store afresh (snapstore.GetSnapstore + GetLatestFullSnapshotAndDeltaSnapList),
	// not the snapshotter's memory, and needs no active snapshotter for it
	full, deltas, err := ssr.latest()
	if err == nil && s.faults.on(faultSnapshotterFailing) {
		// testbed: the fault stands for a snapstore outage, which upstream's List would fail on too
		err = errors.New("testbed fault snapshotter-failing: the snapstore cannot be listed")
	}
	if err != nil {
		s.logger.Printf("Unable to fetch latest snapshots from snapstore: %v", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	s.writeJSON(w, latestSnapshotMetadataResponse{FullSnapshot: full, DeltaSnapshots: deltas}, "latest snapshot metadata response")
}

// delegateReqToLeader mirrors httpAPI.go delegateReqToLeader: the etcd leader's client URLs
// (Status on the first --endpoints, then MemberList: miscellaneous.GetLeader), the backup leader
// = scheme and host of the first of them with our --server-port (GetBackupLeaderEndPoint), its
// /healthz must say {"health":true} (IsBackupRestoreHealthy, CA = --cacert, the etcd client CA,
// as upstream's EtcdConnectionConfig.CaFile), then a reverse proxy. Every failure is a 405.
func (s *server) delegateReqToLeader(w http.ResponseWriter, r *http.Request) {
	fail := func(format string, args ...any) {
		s.logger.Printf(format, args...)
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
	if len(s.o.endpoints) == 0 {
		fail("etcd endpoints are not passed correctly")
		return
	}
	cli, err := s.newEtcdClient(s.o.endpoints)
	if err != nil {
		fail("failed to create etcd maintenance client:  %v", err)
		return
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(r.Context(), s.o.connectionTimeout)
	defer cancel()
	leaderEndpoints, err := etcdLeaderClientURLs(ctx, cli, s.o.endpoints[0])
	if err != nil {
		fail("Unable to get the etcd leader endpoint: %v", err)
		return
	}
	backupLeader, err := backupLeaderEndPoint(leaderEndpoints, s.o.serverPort)
	if err != nil {
		fail("Unable to get the backup leader endpoint: %v", err)
		return
	}
	target, err := url.Parse(backupLeader)
	if err != nil {
		fail("Unable to parse backup leader endpoint: %v", err)
		return
	}
	healthy, err := isBackupRestoreHealthy(backupLeader+"/healthz", s.tlsEnabled(), s.o.caFile)
	if err != nil {
		fail("Unable to check backup leader health: %v", err)
		return
	}
	if !healthy {
		fail("backup leader is not healthy: %v", err)
		return
	}
	s.logger.Printf("backup-restore leader with url [%v] is healthy", target)
	proxy := httputil.NewSingleHostReverseProxy(target)
	if s.tlsEnabled() {
		ca, err := os.ReadFile(s.o.caFile)
		if err != nil {
			return // upstream returns without writing: the client gets 200 with an empty body
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		proxy.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	proxy.ServeHTTP(w, r)
}

// etcdLeaderClientURLs mirrors miscellaneous.GetLeader: Status of endpoint, then the client URLs
// of the member whose ID is the leader's (nil, no error, when the member list lacks it).
func etcdLeaderClientURLs(ctx context.Context, cli *clientv3.Client, endpoint string) ([]string, error) {
	if endpoint == "" {
		return nil, errors.New("etcd endpoint are not passed correctly")
	}
	st, err := cli.Status(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	if st.Leader == 0 {
		return nil, errors.New("currently there is no Etcd Leader present may be due to etcd quorum loss.")
	}
	members, err := cli.MemberList(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range members.Members {
		if m.ID == st.Leader {
			return m.ClientURLs, nil
		}
	}
	return nil, nil
}

// backupLeaderEndPoint mirrors miscellaneous.GetBackupLeaderEndPoint: the etcd URL's scheme (not
// this server's TLS setting) and host, with the backup-restore port.
func backupLeaderEndPoint(endpoints []string, port uint) (string, error) {
	if len(endpoints) == 0 {
		return "", errors.New("etcd endpoints are not passed correctly")
	}
	u, err := url.Parse(endpoints[0])
	if err != nil {
		return "", err
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s://%s:%d", u.Scheme, host, port), nil
}

// isBackupRestoreHealthy mirrors httpAPI.go IsBackupRestoreHealthy: GET without a timeout, the
// CA only when our own server has TLS, the verdict is the body's "health" whatever the status.
func isBackupRestoreHealthy(healthURL string, tlsEnabled bool, rootCA string) (bool, error) {
	cl := &http.Client{}
	if tlsEnabled {
		ca, err := os.ReadFile(rootCA) // #nosec G304 -- the configured CA file
		if err != nil {
			return false, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		cl.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	resp, err := cl.Get(healthURL)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err
	}
	var health struct {
		Health bool `json:"health"`
	}
	if err := json.Unmarshal(data, &health); err != nil {
		return false, err
	}
	return health.Health, nil
}
