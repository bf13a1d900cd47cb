package runtime

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// ID returns the container ID of spec: "<podUID>_<name>_<attempt>".
func (s *ContainerSpec) ID() ContainerID {
	return ContainerID(s.PodUID + "_" + s.Name + "_" + strconv.FormatInt(int64(s.Attempt), 10))
}

// ParseContainerID splits an ID into pod UID, container name and attempt.
func ParseContainerID(id ContainerID) (podUID, name string, attempt int32, err error) {
	parts := strings.Split(string(id), "_")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return "", "", 0, fmt.Errorf("%w: malformed container id %q", ErrNotFound, id)
	}
	n, err := strconv.ParseInt(parts[2], 10, 32)
	if err != nil || n < 0 {
		return "", "", 0, fmt.Errorf("%w: malformed container id %q", ErrNotFound, id)
	}
	return parts[0], parts[1], int32(n), nil
}

// validate checks the parts of a spec every runtime relies on.
func (s *ContainerSpec) validate() error {
	if err := validName("pod uid", s.PodUID); err != nil {
		return err
	}
	if err := validName("container name", s.Name); err != nil {
		return err
	}
	if s.Attempt < 0 {
		return fmt.Errorf("%w: negative attempt %d", ErrInvalidSpec, s.Attempt)
	}
	if s.WorkingDir != "" && !path.IsAbs(s.WorkingDir) {
		return fmt.Errorf("%w: workingDir %q is not absolute", ErrInvalidSpec, s.WorkingDir)
	}
	if p := s.TerminationMessagePath; p != "" && !path.IsAbs(p) {
		return fmt.Errorf("%w: terminationMessagePath %q is not absolute", ErrInvalidSpec, p)
	}
	for i, m := range s.Mounts {
		if !path.IsAbs(m.ContainerPath) || m.HostPath == "" || !path.IsAbs(m.HostPath) {
			return fmt.Errorf("%w: mounts[%d]: hostPath and mountPath must be absolute (%q -> %q)",
				ErrInvalidSpec, i, m.HostPath, m.ContainerPath)
		}
		if err := validSubPath(m.SubPath); err != nil {
			return fmt.Errorf("%w: mounts[%d]: %w", ErrInvalidSpec, i, err)
		}
	}
	for _, e := range s.Env {
		if e.Name == "" || strings.ContainsAny(e.Name, "=\x00") {
			return fmt.Errorf("%w: invalid environment variable name %q", ErrInvalidSpec, e.Name)
		}
	}
	return nil
}

// validName rejects values that cannot be one path element of an ID.
func validName(what, v string) error {
	if v == "" || v == "." || v == ".." || strings.ContainsAny(v, "/_\x00") {
		return fmt.Errorf("%w: invalid %s %q", ErrInvalidSpec, what, v)
	}
	return nil
}

// validSubPath enforces upstream's subPath rules: relative, no "..".
func validSubPath(sub string) error {
	if sub == "" {
		return nil
	}
	if path.IsAbs(sub) {
		return fmt.Errorf("subPath %q must be a relative path", sub)
	}
	for _, el := range strings.Split(sub, "/") {
		if el == ".." {
			return fmt.Errorf("subPath %q must not contain '..'", sub)
		}
	}
	return nil
}

// argv computes the process arguments from the spec and the image config with
// the Pod API's rules: Command replaces the entrypoint and drops the image's
// default args; Args replaces the default args.
func argv(spec *ContainerSpec, img *Image) ([]string, error) {
	var out []string
	switch {
	case len(spec.Command) > 0:
		out = append(append(out, spec.Command...), spec.Args...)
	case len(spec.Args) > 0:
		out = append(append(out, img.Entrypoint...), spec.Args...)
	default:
		out = append(append(out, img.Entrypoint...), img.Cmd...)
	}
	if len(out) == 0 || out[0] == "" {
		return nil, fmt.Errorf("%w: container %q has no command and image %q has no default command",
			ErrNoCommand, spec.Name, spec.Image)
	}
	return out, nil
}

// defaultPath is the PATH container engines give an image without one.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// environ builds the process environment: image defaults, then HOSTNAME and
// HOME as container engines set them, then the spec's variables (which win).
func environ(spec *ContainerSpec, img *Image, hostname string) []string {
	vals := make(map[string]string, len(spec.Env)+len(img.Env)+3)
	order := make([]string, 0, len(spec.Env)+len(img.Env)+3)
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	set("PATH", defaultPath)
	for _, kv := range img.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			set(k, v)
		}
	}
	if hostname != "" {
		set("HOSTNAME", hostname)
	}
	set("HOME", "/root")
	if spec.RunAsUser != nil && *spec.RunAsUser != 0 {
		set("HOME", "/")
	}
	for _, e := range spec.Env {
		set(e.Name, e.Value)
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out
}
