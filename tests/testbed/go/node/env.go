package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// containerEnv resolves env and envFrom like kubelet's makeEnvironmentVariables
// (upstream pkg/kubelet/kubelet_pods.go), at container creation (so
// status.podIP is known). Of the service links only the master service's
// (KUBERNETES_SERVICE_HOST, ...; see masterServiceEnv) are generated: there
// are no cluster IPs here. As in kubelet, the container's own env/envFrom win
// over them, $(VAR) in env values falls back to them, and the remaining ones
// are appended after the container's variables.
func (p *Provider) containerEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podIP string) ([]corev1.EnvVar, error) {
	var order []string
	vals := map[string]string{}
	serviceEnv := masterServiceEnv(p.cfg.APIForward)
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	ns := pod.Namespace
	for _, ef := range c.EnvFrom {
		var data map[string]string
		switch {
		case ef.ConfigMapRef != nil:
			cm, err := p.client.CoreV1().ConfigMaps(ns).Get(ctx, ef.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && ef.ConfigMapRef.Optional != nil && *ef.ConfigMapRef.Optional {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", ef.ConfigMapRef.Name)
			}
			data = cm.Data
		case ef.SecretRef != nil:
			s, err := p.client.CoreV1().Secrets(ns).Get(ctx, ef.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && ef.SecretRef.Optional != nil && *ef.SecretRef.Optional {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", ef.SecretRef.Name)
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			set(ef.Prefix+k, data[k])
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, fallback(vals, serviceEnv)))
			continue
		}
		v, ok, err := p.envValueFrom(ctx, pod, c, e.ValueFrom, podIP)
		if err != nil {
			return nil, err
		}
		if ok {
			set(e.Name, v)
		}
	}
	env := make([]corev1.EnvVar, 0, len(order)+len(serviceEnv))
	for _, k := range order {
		env = append(env, corev1.EnvVar{Name: k, Value: vals[k]})
	}
	extra := make([]string, 0, len(serviceEnv))
	for k := range serviceEnv {
		if _, ok := vals[k]; !ok {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		env = append(env, corev1.EnvVar{Name: k, Value: serviceEnv[k]})
	}
	return env, nil
}

// fallback is vals with the keys of more that vals lacks (kubelet's
// expansion.MappingFuncFor(tmpEnv, serviceEnv)).
func fallback(vals, more map[string]string) map[string]string {
	if len(more) == 0 {
		return vals
	}
	m := make(map[string]string, len(vals)+len(more))
	for k, v := range more {
		m[k] = v
	}
	for k, v := range vals {
		m[k] = v
	}
	return m
}

// envValueFrom resolves one valueFrom; ok=false skips an optional var.
func (p *Provider) envValueFrom(ctx context.Context, pod *corev1.Pod, c *corev1.Container, vf *corev1.EnvVarSource, podIP string) (string, bool, error) {
	ns := pod.Namespace
	switch {
	case vf.FieldRef != nil:
		v, err := p.fieldValue(pod, vf.FieldRef.FieldPath, podIP)
		return v, err == nil, err
	case vf.ResourceFieldRef != nil:
		rf := *vf.ResourceFieldRef
		if rf.ContainerName == "" {
			rf.ContainerName = c.Name
		}
		v, err := p.resourceValue(pod, &rf)
		return v, err == nil, err
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		opt := ref.Optional != nil && *ref.Optional
		s, err := p.client.CoreV1().Secrets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) && opt {
				return "", false, nil
			}
			return "", false, fmt.Errorf("secret %q not found", ref.Name)
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			if opt {
				return "", false, nil
			}
			return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, ns, ref.Name)
		}
		return string(v), true, nil
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		opt := ref.Optional != nil && *ref.Optional
		cm, err := p.client.CoreV1().ConfigMaps(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) && opt {
				return "", false, nil
			}
			return "", false, fmt.Errorf("configmap %q not found", ref.Name)
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			if opt {
				return "", false, nil
			}
			return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, ns, ref.Name)
		}
		return v, true, nil
	}
	return "", false, nil
}

// fieldValue is the downward API fieldRef value.
func (p *Provider) fieldValue(pod *corev1.Pod, path, podIP string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return p.cfg.InternalIP, nil
	case "status.podIP", "status.podIPs":
		return podIP, nil
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels": pod.Labels, "metadata.annotations": pod.Annotations} {
		if strings.HasPrefix(path, prefix+"['") && strings.HasSuffix(path, "']") {
			return m[strings.TrimSuffix(strings.TrimPrefix(path, prefix+"['"), "']")], nil
		}
	}
	return "", fmt.Errorf("unsupported fieldPath: %s", path)
}

func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q\n", k, m[k])
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// resourceValue is the downward API resourceFieldRef value; an unset limit
// is the node's allocatable, as with kubelet.
func (p *Provider) resourceValue(pod *corev1.Pod, rf *corev1.ResourceFieldSelector) (string, error) {
	var c *corev1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == rf.ContainerName {
			c = &pod.Spec.Containers[i]
		}
	}
	if c == nil {
		return "", fmt.Errorf("container %q not found for resourceFieldRef", rf.ContainerName)
	}
	kind, name, _ := strings.Cut(rf.Resource, ".")
	list := c.Resources.Limits
	if kind == "requests" {
		list = c.Resources.Requests
	}
	q, ok := list[corev1.ResourceName(name)]
	if !ok {
		defaults := map[string]string{"cpu": "8", "memory": "32Gi", "ephemeral-storage": "100Gi"}
		if kind == "requests" {
			defaults = map[string]string{"cpu": "0", "memory": "0", "ephemeral-storage": "0"}
		}
		q = resource.MustParse(defaults[name])
	}
	div := rf.Divisor
	if div.IsZero() {
		div = resource.MustParse("1")
	}
	if name == "cpu" {
		return fmt.Sprint(int64(math.Ceil(float64(q.MilliValue()) / float64(div.MilliValue())))), nil
	}
	return fmt.Sprint(int64(math.Ceil(float64(q.Value()) / float64(div.Value())))), nil
}
