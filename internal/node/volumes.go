package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	crt "github.com/skiff-sh/skiff/internal/runtime"
)

// podVolumes is a pod's sandbox and the host path of each volume.
type podVolumes struct {
	sandbox crt.Sandbox
	// paths maps a volume name to its host directory (or file, for a
	// hostPath file); empty when the runtime keeps no files (fake).
	paths map[string]string
	// tokens are the service account tokens written, to keep fresh.
	tokens []tokenFile
}

// volFile is one file of a configMap, secret, downwardAPI or projected volume.
type volFile struct {
	path string
	data []byte
	mode int32
	// token, for a service account token, is its projection; refreshAt is
	// when it is due for renewal.
	token     *corev1.ServiceAccountTokenProjection
	refreshAt time.Time
}

const defaultFileMode int32 = 0o644

// setupVolumes creates the sandbox (emptyDirs) and populates the other
// volumes. Errors read like the kubelet's FailedMount events.
func (w *podWorker) setupVolumes(ctx context.Context, pod *corev1.Pod) (*podVolumes, error) {
	spec := crt.SandboxSpec{PodUID: string(pod.UID), PodNamespace: pod.Namespace, PodName: pod.Name}
	for _, v := range pod.Spec.Volumes {
		if ed := v.EmptyDir; ed != nil {
			e := crt.EmptyDir{Name: v.Name, Memory: ed.Medium == corev1.StorageMediumMemory}
			if ed.SizeLimit != nil {
				e.SizeLimit = ed.SizeLimit.Value()
			}
			spec.EmptyDirs = append(spec.EmptyDirs, e)
		}
	}
	sb, err := w.a.rt.CreateSandbox(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("creating pod sandbox: %w", err)
	}
	for _, warning := range sb.Warnings {
		w.a.recorder.Event(pod, corev1.EventTypeWarning, "VolumeFallback", warning)
	}
	vols := &podVolumes{sandbox: sb, paths: map[string]string{}}
	if sb.Dir == "" {
		return vols, nil // the runtime keeps no files
	}
	src := w.newSources(pod.Namespace)
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		p, tokens, err := w.setupVolume(ctx, src, pod, sb, v)
		if err != nil {
			return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
		}
		vols.paths[v.Name] = p
		vols.tokens = append(vols.tokens, tokens...)
	}
	return vols, nil
}

func (w *podWorker) setupVolume(ctx context.Context, src *sources, pod *corev1.Pod, sb crt.Sandbox, v *corev1.Volume) (string, []tokenFile, error) {
	var files []volFile
	var err error
	switch {
	case v.EmptyDir != nil:
		return sb.VolumePaths[v.Name], nil, nil
	case v.HostPath != nil:
		return v.HostPath.Path, nil, checkHostPath(v.HostPath)
	case v.ConfigMap != nil:
		files, err = configMapFiles(ctx, src, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, v.ConfigMap.DefaultMode)
	case v.Secret != nil:
		files, err = secretFiles(ctx, src, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, v.Secret.DefaultMode)
	case v.DownwardAPI != nil:
		files, err = w.downwardFiles(pod, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
	case v.Projected != nil:
		files, err = w.projectedFiles(ctx, src, pod, v.Projected)
	default:
		return "", nil, errors.New("volume type not supported by skiff (supported: emptyDir, hostPath, configMap, secret, downwardAPI, projected)")
	}
	if err != nil {
		return "", nil, err
	}
	dir := crt.VolumeDir(sb, v.Name)
	var tokens []tokenFile
	for _, f := range files {
		if f.token != nil {
			tokens = append(tokens, tokenFile{path: filepath.Join(dir, filepath.Clean("/"+f.path)), mode: f.mode, source: *f.token, refreshAt: f.refreshAt})
		}
	}
	return dir, tokens, writeVolumeFiles(dir, files)
}

// checkHostPath applies the hostPath type: create what *OrCreate asks for,
// check the kind of what must exist.
func checkHostPath(hp *corev1.HostPathVolumeSource) error {
	t := corev1.HostPathUnset
	if hp.Type != nil {
		t = *hp.Type
	}
	p := hp.Path
	fi, statErr := os.Stat(p)
	exists := statErr == nil
	switch t {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if !exists {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return fmt.Errorf("creating hostPath directory: %w", err)
			}
			return nil
		}
		if !fi.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", p)
		}
	case corev1.HostPathDirectory:
		if !exists || !fi.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", p)
		}
	case corev1.HostPathFileOrCreate:
		if !exists {
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("creating hostPath file: %w", err)
			}
			return f.Close()
		}
		if fi.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", p)
		}
	case corev1.HostPathFile:
		if !exists || !fi.Mode().IsRegular() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", p)
		}
	case corev1.HostPathSocket:
		if !exists || fi.Mode()&fs.ModeSocket == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a socket file", p)
		}
	case corev1.HostPathCharDev:
		if !exists || fi.Mode()&fs.ModeCharDevice == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a character device", p)
		}
	case corev1.HostPathBlockDev:
		if !exists || fi.Mode()&fs.ModeDevice == 0 || fi.Mode()&fs.ModeCharDevice != 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a block device", p)
		}
	default:
		return fmt.Errorf("hostPath type %q not supported", t)
	}
	return nil
}

func configMapFiles(ctx context.Context, src *sources, name string, items []corev1.KeyToPath, optional *bool, defMode *int32) ([]volFile, error) {
	cm, err := src.configMap(ctx, name)
	if err != nil {
		return nil, err
	}
	if cm == nil {
		if isOptional(optional) {
			return nil, nil
		}
		return nil, fmt.Errorf("configmap %q not found", name)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return projectKeys(data, items, optional, defMode, "configmap references non-existent config key: %s")
}

func secretFiles(ctx context.Context, src *sources, name string, items []corev1.KeyToPath, optional *bool, defMode *int32) ([]volFile, error) {
	sec, err := src.secret(ctx, name)
	if err != nil {
		return nil, err
	}
	if sec == nil {
		if isOptional(optional) {
			return nil, nil
		}
		return nil, fmt.Errorf("secret %q not found", name)
	}
	return projectKeys(sec.Data, items, optional, defMode, "references non-existent secret key: %s")
}

// projectKeys selects the keys of a configMap or secret: all of them, or
// the listed items at their paths and modes.
func projectKeys(data map[string][]byte, items []corev1.KeyToPath, optional *bool, defMode *int32, missingFmt string) ([]volFile, error) {
	mode := defaultFileMode
	if defMode != nil {
		mode = *defMode
	}
	var out []volFile
	if len(items) == 0 {
		for _, k := range slices.Sorted(maps.Keys(data)) {
			out = append(out, volFile{path: k, data: data[k], mode: mode})
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if isOptional(optional) {
				continue
			}
			return nil, fmt.Errorf(missingFmt, it.Key)
		}
		m := mode
		if it.Mode != nil {
			m = *it.Mode
		}
		out = append(out, volFile{path: it.Path, data: v, mode: m})
	}
	return out, nil
}

func (w *podWorker) downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defMode *int32) ([]volFile, error) {
	mode := defaultFileMode
	if defMode != nil {
		mode = *defMode
	}
	var out []volFile
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = w.fieldValue(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			v, err = w.resourceValue(pod, "", it.ResourceFieldRef)
		}
		if err != nil {
			return nil, err
		}
		m := mode
		if it.Mode != nil {
			m = *it.Mode
		}
		out = append(out, volFile{path: it.Path, data: []byte(v), mode: m})
	}
	return out, nil
}

// projectedFiles merges the projected sources; a service account token is
// requested from the API, bound to the pod.
func (w *podWorker) projectedFiles(ctx context.Context, src *sources, pod *corev1.Pod, p *corev1.ProjectedVolumeSource) ([]volFile, error) {
	var out []volFile
	for _, s := range p.Sources {
		var files []volFile
		var err error
		switch {
		case s.ConfigMap != nil:
			files, err = configMapFiles(ctx, src, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional, p.DefaultMode)
		case s.Secret != nil:
			files, err = secretFiles(ctx, src, s.Secret.Name, s.Secret.Items, s.Secret.Optional, p.DefaultMode)
		case s.DownwardAPI != nil:
			files, err = w.downwardFiles(pod, s.DownwardAPI.Items, p.DefaultMode)
		case s.ServiceAccountToken != nil:
			var data []byte
			var refresh time.Time
			data, refresh, err = w.fetchToken(ctx, pod, s.ServiceAccountToken)
			mode := defaultFileMode
			if p.DefaultMode != nil {
				mode = *p.DefaultMode
			}
			files = []volFile{{path: s.ServiceAccountToken.Path, data: data, mode: mode, token: s.ServiceAccountToken, refreshAt: refresh}}
		}
		if err != nil {
			return nil, err
		}
		out = append(out, files...)
	}
	return out, nil
}

// writeVolumeFiles writes the files of a volume under dir.
func writeVolumeFiles(dir string, files []volFile) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating volume directory: %w", err)
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.Clean("/"+f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
		if err := os.WriteFile(p, f.data, fs.FileMode(f.mode)&fs.ModePerm); err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
		if err := os.Chmod(p, fs.FileMode(f.mode)&fs.ModePerm); err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
	}
	return nil
}
