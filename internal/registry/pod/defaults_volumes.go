package pod

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
)

// setDefaultsVolume is upstream's SetDefaults_Volume plus the generated
// defaulting of each volume source (default modes, hostPath type, field-ref
// apiVersion, token expiry, and the deprecated in-tree sources' +default
// markers).
func setDefaultsVolume(v *corev1.Volume) {
	if allPtrFieldsNil(&v.VolumeSource) {
		v.VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	}
	src := &v.VolumeSource
	if src.HostPath != nil && src.HostPath.Type == nil {
		unset := corev1.HostPathUnset
		src.HostPath.Type = &unset
	}
	if src.Secret != nil {
		defaultMode(&src.Secret.DefaultMode, corev1.SecretVolumeSourceDefaultMode)
	}
	if src.ConfigMap != nil {
		defaultMode(&src.ConfigMap.DefaultMode, corev1.ConfigMapVolumeSourceDefaultMode)
	}
	if src.DownwardAPI != nil {
		defaultMode(&src.DownwardAPI.DefaultMode, corev1.DownwardAPIVolumeSourceDefaultMode)
		defaultDownwardAPIFiles(src.DownwardAPI.Items)
	}
	if src.Projected != nil {
		setDefaultsProjected(src.Projected)
	}
	if src.Image != nil && src.Image.PullPolicy == "" {
		if imageTag(src.Image.Reference) == "latest" {
			src.Image.PullPolicy = corev1.PullAlways
		} else {
			src.Image.PullPolicy = corev1.PullIfNotPresent
		}
	}
	if src.Ephemeral != nil && src.Ephemeral.VolumeClaimTemplate != nil {
		spec := &src.Ephemeral.VolumeClaimTemplate.Spec
		if spec.VolumeMode == nil {
			mode := corev1.PersistentVolumeFilesystem
			spec.VolumeMode = &mode
		}
		setDefaultsResourceList(spec.Resources.Limits)
		setDefaultsResourceList(spec.Resources.Requests)
	}
	setDefaultsLegacyVolumeSources(src)
}

func setDefaultsProjected(p *corev1.ProjectedVolumeSource) {
	defaultMode(&p.DefaultMode, corev1.ProjectedVolumeSourceDefaultMode)
	for i := range p.Sources {
		s := &p.Sources[i]
		if s.DownwardAPI != nil {
			defaultDownwardAPIFiles(s.DownwardAPI.Items)
		}
		if s.ServiceAccountToken != nil && s.ServiceAccountToken.ExpirationSeconds == nil {
			hour := int64(3600)
			s.ServiceAccountToken.ExpirationSeconds = &hour
		}
	}
}

// setDefaultsLegacyVolumeSources applies the +default values of the
// deprecated in-tree volume sources.
func setDefaultsLegacyVolumeSources(src *corev1.VolumeSource) {
	if src.ISCSI != nil && src.ISCSI.ISCSIInterface == "" {
		src.ISCSI.ISCSIInterface = "default"
	}
	if src.RBD != nil {
		defaultString(&src.RBD.RBDPool, "rbd")
		defaultString(&src.RBD.RadosUser, "admin")
		defaultString(&src.RBD.Keyring, "/etc/ceph/keyring")
	}
	if az := src.AzureDisk; az != nil {
		if az.CachingMode == nil {
			mode := corev1.AzureDataDiskCachingReadWrite
			az.CachingMode = &mode
		}
		if az.FSType == nil {
			fs := "ext4"
			az.FSType = &fs
		}
		if az.ReadOnly == nil {
			ro := false
			az.ReadOnly = &ro
		}
		if az.Kind == nil {
			kind := corev1.AzureSharedBlobDisk
			az.Kind = &kind
		}
	}
	if src.ScaleIO != nil {
		defaultString(&src.ScaleIO.StorageMode, "ThinProvisioned")
		defaultString(&src.ScaleIO.FSType, "xfs")
	}
}

func defaultDownwardAPIFiles(items []corev1.DownwardAPIVolumeFile) {
	for i := range items {
		if items[i].FieldRef != nil {
			setDefaultsObjectFieldSelector(items[i].FieldRef)
		}
	}
}

func defaultMode(mode **int32, value int32) {
	if *mode == nil {
		m := value
		*mode = &m
	}
}

func defaultString(s *string, value string) {
	if *s == "" {
		*s = value
	}
}

// allPtrFieldsNil reports whether every pointer field of the struct is nil
// (k8s.io/utils/ptr.AllPtrFieldsNil, which upstream uses to detect a volume
// without a source).
func allPtrFieldsNil(obj any) bool {
	v := reflect.ValueOf(obj)
	if !v.IsValid() || (v.Kind() == reflect.Pointer && v.IsNil()) {
		return true
	}
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).Kind() == reflect.Pointer && !v.Field(i).IsNil() {
			return false
		}
	}
	return true
}
