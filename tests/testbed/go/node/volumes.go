package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/virtual-kubelet/virtual-kubelet/log"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Volumes are materialised under --state-dir/pods/<uid>/volumes/<name>/
// and bind-mounted into the containers. persistentVolumeClaim volumes are
// directories under --state-dir/pvc/<namespace>/<claim>/ that outlive the
// pod (like a local-path provisioner), hostPath is the host path itself.

func (p *Provider) volumeDir(st *podState, v *corev1.Volume) string {
	switch {
	case v.HostPath != nil:
		return v.HostPath.Path
	case v.PersistentVolumeClaim != nil:
		return filepath.Join(p.cfg.StateDir, "pvc", st.namespace, v.PersistentVolumeClaim.ClaimName)
	}
	return filepath.Join(p.cfg.StateDir, "pods", string(st.uid), "volumes", v.Name)
}

// volFile is one file of a secret/configMap/downwardAPI/projected volume.
type volFile struct {
	data  []byte
	mode  int32
	owner *int64 // file owner (a service account token's fsUser); nil: the node's user
}

// setupVolumes (re)writes all volumes of the pod. Missing non-optional
// secrets/configMaps fail the setup (retried, like kubelet's FailedMount).
func (p *Provider) setupVolumes(ctx context.Context, st *podState) error {
	p.mu.Lock()
	pod := st.pod
	p.mu.Unlock()
	var fsGroup *int64
	if sc := pod.Spec.SecurityContext; sc != nil {
		fsGroup = sc.FSGroup
	}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		dir := p.volumeDir(st, v)
		var files map[string]volFile
		var err error
		switch {
		case v.EmptyDir != nil, v.Ephemeral != nil, v.PersistentVolumeClaim != nil:
			// kubelet creates emptyDir 0777; with fsGroup it is group-owned
			// and setgid so new files inherit the group.
			err = makeSharedDir(dir, fsGroup)
		case v.HostPath != nil:
			t := v.HostPath.Type
			if t != nil && *t == corev1.HostPathDirectoryOrCreate {
				err = os.MkdirAll(dir, 0o755)
			}
		case v.Secret != nil:
			files, err = p.secretFiles(ctx, pod.Namespace, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, v.Secret.DefaultMode)
		case v.ConfigMap != nil:
			files, err = p.configMapFiles(ctx, pod.Namespace, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, v.ConfigMap.DefaultMode)
		case v.DownwardAPI != nil:
			files, err = p.downwardFiles(pod, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
		case v.Projected != nil:
			files, err = p.projectedFiles(ctx, pod, v.Projected)
		default:
			err = fmt.Errorf("volume %q: unsupported volume type", v.Name)
		}
		if err != nil {
			return fmt.Errorf("volume %q: %w", v.Name, err)
		}
		if files != nil {
			if err := writeVolume(dir, files, fsGroup); err != nil {
				return fmt.Errorf("volume %q: %w", v.Name, err)
			}
		}
	}
	return nil
}

func makeSharedDir(dir string, fsGroup *int64) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	mode := os.FileMode(0o777)
	if fsGroup != nil {
		if err := os.Chown(dir, -1, int(*fsGroup)); err != nil {
			return err
		}
		mode |= os.ModeSetgid
	}
	return os.Chmod(dir, mode)
}

// writeVolume writes the files of a read-only (secret-like) volume. Like
// kubelet's SetVolumeOwnership with fsGroup: group = fsGroup, files get
// g+r, directories g+rx and setgid.
func writeVolume(dir string, files map[string]volFile, fsGroup *int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	gid := -1
	if fsGroup != nil {
		gid = int(*fsGroup)
	}
	fixDir := func(d string) error {
		mode := os.FileMode(0o755)
		if gid >= 0 {
			if err := os.Chown(d, -1, gid); err != nil {
				return err
			}
			mode |= os.ModeSetgid
		}
		return os.Chmod(d, mode)
	}
	if err := fixDir(dir); err != nil {
		return err
	}
	for rel, f := range files {
		path := filepath.Join(dir, rel)
		if !strings.HasPrefix(path, dir+string(os.PathSeparator)) {
			return fmt.Errorf("invalid path %q", rel)
		}
		for d := filepath.Dir(path); d != dir; d = filepath.Dir(d) {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			if err := fixDir(d); err != nil {
				return err
			}
		}
		mode := os.FileMode(f.mode) & 0o777
		if gid >= 0 {
			mode |= 0o440
		}
		uid := -1
		if f.owner != nil {
			uid = int(*f.owner)
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			return err
		}
		if gid >= 0 || uid >= 0 {
			if err := os.Chown(tmp, uid, gid); err != nil {
				return err
			}
		}
		if err := os.Chmod(tmp, mode); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	return nil
}

func modeOr(m *int32, def int32) int32 {
	if m != nil {
		return *m
	}
	return def
}

// keyFiles maps data to files: all keys, or only items (missing keys are an
// error unless optional).
func keyFiles(kind, ref string, data map[string][]byte, items []corev1.KeyToPath, optional bool, defMode int32) (map[string]volFile, error) {
	files := map[string]volFile{}
	if len(items) == 0 {
		for k, v := range data {
			files[k] = volFile{data: v, mode: defMode}
		}
		return files, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("configured to use key %s in %s %s, but it does not exist", it.Key, kind, ref)
		}
		files[it.Path] = volFile{data: v, mode: modeOr(it.Mode, defMode)}
	}
	return files, nil
}

func (p *Provider) secretFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool, defMode *int32) (map[string]volFile, error) {
	opt := optional != nil && *optional
	s, err := p.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) && opt {
			return map[string]volFile{}, nil
		}
		return nil, fmt.Errorf("couldn't get secret %s/%s: %w", ns, name, err)
	}
	return keyFiles("Secret", ns+"/"+name, s.Data, items, opt, modeOr(defMode, 0o644))
}

func (p *Provider) configMapFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool, defMode *int32) (map[string]volFile, error) {
	opt := optional != nil && *optional
	cm, err := p.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) && opt {
			return map[string]volFile{}, nil
		}
		return nil, fmt.Errorf("couldn't get configMap %s/%s: %w", ns, name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyFiles("ConfigMap", ns+"/"+name, data, items, opt, modeOr(defMode, 0o644))
}

func (p *Provider) downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defMode *int32) (map[string]volFile, error) {
	files := map[string]volFile{}
	for _, it := range items {
		var val string
		var err error
		switch {
		case it.FieldRef != nil:
			val, err = p.fieldValue(pod, it.FieldRef.FieldPath, "")
		case it.ResourceFieldRef != nil:
			val, err = p.resourceValue(pod, it.ResourceFieldRef)
		}
		if err != nil {
			return nil, err
		}
		files[it.Path] = volFile{data: []byte(val), mode: modeOr(it.Mode, modeOr(defMode, 0o644))}
	}
	return files, nil
}

// projectedFiles: secret, configMap, downwardAPI and serviceAccountToken
// sources. Missing secrets/configMaps are skipped with a warning (the
// kube-root-ca.crt configMap of kube-api-access-* volumes is published by
// kube-controller-manager, which a test fleet may not run).
func (p *Provider) projectedFiles(ctx context.Context, pod *corev1.Pod, v *corev1.ProjectedVolumeSource) (map[string]volFile, error) {
	files := map[string]volFile{}
	defMode := v.DefaultMode
	merge := func(fs map[string]volFile, err error, what string) error {
		if err != nil {
			if apierrors.IsNotFound(err) || strings.Contains(err.Error(), "not found") {
				log.G(ctx).Warnf("pod %s/%s: projected %s: %v (skipped)", pod.Namespace, pod.Name, what, err)
				return nil
			}
			return err
		}
		for k, f := range fs {
			files[k] = f
		}
		return nil
	}
	for _, src := range v.Sources {
		var err error
		switch {
		case src.Secret != nil:
			fs, e := p.secretFiles(ctx, pod.Namespace, src.Secret.Name, src.Secret.Items, src.Secret.Optional, defMode)
			err = merge(fs, e, "secret "+src.Secret.Name)
		case src.ConfigMap != nil:
			fs, e := p.configMapFiles(ctx, pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, defMode)
			err = merge(fs, e, "configMap "+src.ConfigMap.Name)
		case src.DownwardAPI != nil:
			fs, e := p.downwardFiles(pod, src.DownwardAPI.Items, defMode)
			err = merge(fs, e, "downwardAPI")
		case src.ServiceAccountToken != nil:
			t := src.ServiceAccountToken
			exp := int64(3600)
			if t.ExpirationSeconds != nil {
				exp = *t.ExpirationSeconds
			}
			var aud []string
			if t.Audience != "" {
				aud = []string{t.Audience}
			}
			sa := pod.Spec.ServiceAccountName
			if sa == "" {
				sa = "default"
			}
			tr, e := p.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, &authv1.TokenRequest{
				Spec: authv1.TokenRequestSpec{Audiences: aud, ExpirationSeconds: &exp,
					BoundObjectRef: &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}},
			}, metav1.CreateOptions{})
			if e != nil {
				err = fmt.Errorf("requesting token for service account %s: %w", sa, e)
				break
			}
			// No rotation: tokens live at least an hour.
			files[t.Path] = tokenFile(pod, []byte(tr.Status.Token), modeOr(defMode, 0o644))
		}
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// tokenFile is a projected service account token file as kubelet writes it
// (upstream pkg/volume/projected/projected.go collectData): defaultMode,
// but 0600 when the pod has an fsUser or fsGroup, owned by the fsUser; with
// fsGroup, writeVolume then makes it group fsGroup and g+r (0640), as
// kubelet's SetVolumeOwnership does. So a token is readable by the pod's
// user, never by others, when the pod sets runAsUser or fsGroup.
func tokenFile(pod *corev1.Pod, data []byte, defMode int32) volFile {
	f := volFile{data: data, mode: defMode}
	fsUser := fsUserFrom(pod)
	var fsGroup *int64
	if sc := pod.Spec.SecurityContext; sc != nil {
		fsGroup = sc.FSGroup
	}
	if fsUser != nil || fsGroup != nil {
		f.mode = 0o600
	}
	f.owner = fsUser
	return f
}

// fsUserFrom is upstream pkg/volume/util FsUserFrom: the effective runAsUser
// shared by every container of the pod (init, regular, ephemeral), nil if one
// container has none or two differ.
func fsUserFrom(pod *corev1.Pod) *int64 {
	var podUser *int64
	if sc := pod.Spec.SecurityContext; sc != nil {
		podUser = sc.RunAsUser
	}
	var fsUser *int64
	var ctrs []*corev1.SecurityContext
	for i := range pod.Spec.InitContainers {
		ctrs = append(ctrs, pod.Spec.InitContainers[i].SecurityContext)
	}
	for i := range pod.Spec.Containers {
		ctrs = append(ctrs, pod.Spec.Containers[i].SecurityContext)
	}
	for i := range pod.Spec.EphemeralContainers {
		ctrs = append(ctrs, pod.Spec.EphemeralContainers[i].SecurityContext)
	}
	for _, sc := range ctrs {
		u := podUser
		if sc != nil && sc.RunAsUser != nil {
			u = sc.RunAsUser
		}
		if u == nil || (fsUser != nil && *fsUser != *u) {
			return nil
		}
		fsUser = u
	}
	return fsUser
}

// mountArgs bind-mounts the container's volumeMounts (readOnly, subPath).
func (p *Provider) mountArgs(pod *corev1.Pod, c *corev1.Container) ([]string, error) {
	vols := map[string]*corev1.Volume{}
	for i := range pod.Spec.Volumes {
		vols[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	st := &podState{namespace: pod.Namespace, uid: pod.UID}
	var args []string
	mounts := append([]corev1.VolumeMount(nil), c.VolumeMounts...)
	sort.SliceStable(mounts, func(i, j int) bool { return len(mounts[i].MountPath) < len(mounts[j].MountPath) })
	for _, m := range mounts {
		v := vols[m.Name]
		if v == nil {
			return nil, fmt.Errorf("volume mount %q: no such volume", m.Name)
		}
		src := p.volumeDir(st, v)
		if m.SubPath != "" {
			src = filepath.Join(src, m.SubPath)
			if _, err := os.Stat(src); os.IsNotExist(err) {
				if err := os.MkdirAll(src, 0o777); err != nil {
					return nil, err
				}
			}
		}
		if strings.ContainsAny(src+m.MountPath, ",") {
			return nil, fmt.Errorf("volume mount %q: path with comma", m.Name)
		}
		opt := "type=bind,source=" + src + ",destination=" + m.MountPath
		if m.ReadOnly {
			opt += ",ro=true"
		}
		args = append(args, "--mount", opt)
	}
	return args, nil
}
