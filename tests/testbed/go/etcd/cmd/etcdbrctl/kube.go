package main

// Minimal in-cluster Kubernetes client for coordination.k8s.io/v1 Leases
// (plain net/http + JSON merge patch), used the way upstream
// pkg/health/heartbeat/heartbeat.go uses controller-runtime's client.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

const (
	saTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	saCAFile    = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
	microTime   = "2006-01-02T15:04:05.000000Z07:00" // metav1.MicroTime wire format
)

type kubeClient struct {
	base string
	http *http.Client
}

var errNotFound = errors.New("not found")

// newInClusterClient fails like client-go's rest.InClusterConfig when not in a pod.
func newInClusterClient() (*kubeClient, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, errors.New("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined")
	}
	if _, err := os.Stat(saTokenFile); err != nil {
		return nil, fmt.Errorf("unable to load in-cluster configuration: %w", err)
	}
	ca, err := os.ReadFile(saCAFile)
	if err != nil {
		return nil, fmt.Errorf("unable to load in-cluster configuration: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in %s", saCAFile)
	}
	return &kubeClient{
		base: "https://" + net.JoinHostPort(host, port),
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}},
	}, nil
}

type lease struct {
	Metadata struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations,omitempty"`
	} `json:"metadata"`
	Spec struct {
		HolderIdentity *string `json:"holderIdentity,omitempty"`
		RenewTime      *string `json:"renewTime,omitempty"`
	} `json:"spec"`
}

func (k *kubeClient) do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	token, err := os.ReadFile(saTokenFile) // re-read: projected tokens rotate
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, k.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := k.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("%s %s: %w", method, path, errNotFound)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	}
	return data, nil
}

func leasePath(ns, name string) string {
	return fmt.Sprintf("/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", ns, name)
}

func (k *kubeClient) getLease(ctx context.Context, ns, name string) (*lease, error) {
	data, err := k.do(ctx, http.MethodGet, leasePath(ns, name), "", nil)
	if err != nil {
		return nil, err
	}
	var l lease
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// patchLease sends a JSON merge patch (as controller-runtime's client.MergeFrom produces).
func (k *kubeClient) patchLease(ctx context.Context, ns, name string, holder *string, renew time.Time, annotations map[string]string) error {
	spec := map[string]any{"renewTime": renew.UTC().Format(microTime)}
	if holder != nil {
		spec["holderIdentity"] = *holder
	}
	patch := map[string]any{"spec": spec}
	if len(annotations) > 0 {
		patch["metadata"] = map[string]any{"annotations": annotations}
	}
	body, _ := json.Marshal(patch)
	_, err := k.do(ctx, http.MethodPatch, leasePath(ns, name), "application/merge-patch+json", body)
	return err
}

// updateRevisionLease mirrors heartbeat.go UpdateFullSnapshotLease / UpdateDeltaSnapshotLease:
// holderIdentity = the snapshot's last revision (never lowered), renewTime = renew.
func (k *kubeClient) updateRevisionLease(ctx context.Context, ns, name string, revision int64, renew time.Time) (string, error) {
	l, err := k.getLease(ctx, ns, name)
	if err != nil {
		return "", err
	}
	var holder *string
	if l.Spec.HolderIdentity != nil {
		cur, err := strconv.ParseInt(*l.Spec.HolderIdentity, 10, 64)
		if err != nil {
			return "", err
		}
		if cur > revision {
			return *l.Spec.HolderIdentity, nil
		}
	}
	rev := strconv.FormatInt(revision, 10)
	holder = &rev
	return rev, k.patchLease(ctx, ns, name, holder, renew, nil)
}

// renewDeltaLease mirrors heartbeat.go UpdateDeltaSnapshotLease: renewTime = renew always;
// holderIdentity = the latest delta's revision when it is higher than the Lease's, or "0" when
// no delta exists and the Lease has no holder yet.
func (k *kubeClient) renewDeltaLease(ctx context.Context, ns, name string, latestDelta *int64, renew time.Time) error {
	l, err := k.getLease(ctx, ns, name)
	if err != nil {
		return fmt.Errorf("Failed to fetch delta snapshot lease: %w", err)
	}
	var holder *string
	if latestDelta != nil {
		cur := int64(0)
		if l.Spec.HolderIdentity != nil {
			if cur, err = strconv.ParseInt(*l.Spec.HolderIdentity, 10, 64); err != nil {
				return err
			}
		}
		if l.Spec.HolderIdentity == nil || cur < *latestDelta {
			rev := strconv.FormatInt(*latestDelta, 10)
			holder = &rev
		}
	} else if l.Spec.HolderIdentity == nil {
		zero := "0"
		holder = &zero
	}
	return k.patchLease(ctx, ns, name, holder, renew, nil)
}
