package pod

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const fileModeErrorMsg = "must be a number between 0 and 0777 (octal), both inclusive"

// validateVolumes is upstream's ValidateVolumes: names are unique DNS labels
// and each volume has exactly one valid source. It returns the valid volumes
// by name for the mount checks.
func validateVolumes(volumes []corev1.Volume, podMeta *metav1.ObjectMeta, fldPath *field.Path) (map[string]corev1.VolumeSource, field.ErrorList) {
	var errs field.ErrorList
	names := sets.New[string]()
	valid := make(map[string]corev1.VolumeSource, len(volumes))
	for i := range volumes {
		vol := &volumes[i]
		idx := fldPath.Index(i)
		namePath := idx.Child("name")
		el := validateVolumeSource(&vol.VolumeSource, vol.Name, podMeta, idx)
		if vol.Name == "" {
			el = append(el, field.Required(namePath, ""))
		} else {
			el = append(el, validateDNS1123Label(vol.Name, namePath)...)
		}
		if names.Has(vol.Name) {
			el = append(el, field.Duplicate(namePath, vol.Name))
		}
		if len(el) == 0 {
			names.Insert(vol.Name)
			valid[vol.Name] = vol.VolumeSource
		} else {
			errs = append(errs, el...)
		}
	}
	return valid, errs
}

// sourceCheck is one volume source kind: whether it is set, its field name
// and, for the sources Skiff serves, its validation.
type sourceCheck struct {
	set      bool
	name     string
	validate func(*field.Path) field.ErrorList
}

// validateVolumeSource counts the sources set (in upstream's field order) and
// validates the ones Skiff's node agent can serve in depth; the other in-tree
// sources only count toward the one-source rule.
func validateVolumeSource(src *corev1.VolumeSource, volName string, podMeta *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	for _, c := range volumeSourceChecks(src, volName, podMeta, fldPath) {
		if !c.set {
			continue
		}
		if n > 0 {
			errs = append(errs, field.Forbidden(fldPath.Child(c.name), "may not specify more than 1 volume type"))
			continue
		}
		n++
		if c.validate != nil {
			errs = append(errs, c.validate(fldPath.Child(c.name))...)
		}
	}
	if n == 0 {
		errs = append(errs, field.Required(fldPath, "must specify a volume type"))
	}
	return errs
}

func volumeSourceChecks(src *corev1.VolumeSource, volName string, podMeta *metav1.ObjectMeta, fldPath *field.Path) []sourceCheck {
	return []sourceCheck{
		{src.EmptyDir != nil, "emptyDir", func(p *field.Path) field.ErrorList {
			if src.EmptyDir.SizeLimit != nil && src.EmptyDir.SizeLimit.Cmp(resource.Quantity{}) < 0 {
				return field.ErrorList{field.Forbidden(p.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity")}
			}
			return nil
		}},
		{src.HostPath != nil, "hostPath", func(p *field.Path) field.ErrorList { return validateHostPath(src.HostPath, p) }},
		{src.GitRepo != nil, "gitRepo", nil},
		{src.GCEPersistentDisk != nil, "gcePersistentDisk", nil},
		{src.AWSElasticBlockStore != nil, "awsElasticBlockStore", nil},
		{src.Secret != nil, "secret", func(p *field.Path) field.ErrorList {
			return validateProjectedFiles(src.Secret.SecretName, "secretName", src.Secret.DefaultMode, src.Secret.Items, p)
		}},
		{src.NFS != nil, "nfs", nil},
		{src.ISCSI != nil, "iscsi", nil},
		{src.Glusterfs != nil, "glusterfs", nil},
		{src.Flocker != nil, "flocker", nil},
		{src.PersistentVolumeClaim != nil, "persistentVolumeClaim", func(p *field.Path) field.ErrorList {
			if src.PersistentVolumeClaim.ClaimName == "" {
				return field.ErrorList{field.Required(p.Child("claimName"), "")}
			}
			return nil
		}},
		{src.RBD != nil, "rbd", nil},
		{src.Cinder != nil, "cinder", nil},
		{src.CephFS != nil, "cephFS", nil},
		{src.Quobyte != nil, "quobyte", nil},
		// "downwarAPI" is upstream's spelling in the more-than-one message.
		{src.DownwardAPI != nil, "downwarAPI", func(*field.Path) field.ErrorList {
			return validateDownwardAPIVolume(src.DownwardAPI, fldPath.Child("downwardAPI"))
		}},
		{src.FC != nil, "fc", nil},
		{src.FlexVolume != nil, "flexVolume", nil},
		{src.ConfigMap != nil, "configMap", func(p *field.Path) field.ErrorList {
			return validateProjectedFiles(src.ConfigMap.Name, "name", src.ConfigMap.DefaultMode, src.ConfigMap.Items, p)
		}},
		{src.AzureFile != nil, "azureFile", nil},
		{src.VsphereVolume != nil, "vsphereVolume", nil},
		{src.PhotonPersistentDisk != nil, "photonPersistentDisk", nil},
		{src.PortworxVolume != nil, "portworxVolume", nil},
		{src.AzureDisk != nil, "azureDisk", nil},
		{src.StorageOS != nil, "storageos", nil},
		{src.Projected != nil, "projected", func(p *field.Path) field.ErrorList { return validateProjected(src.Projected, p) }},
		{src.ScaleIO != nil, "scaleIO", nil},
		{src.CSI != nil, "csi", func(p *field.Path) field.ErrorList {
			if src.CSI.Driver == "" {
				return field.ErrorList{field.Required(p.Child("driver"), "")}
			}
			return nil
		}},
		{src.Ephemeral != nil, "ephemeral", func(*field.Path) field.ErrorList { return validateEphemeralName(volName, podMeta, fldPath) }},
		{src.Image != nil, "image", nil},
	}
}

func validateHostPath(hp *corev1.HostPathVolumeSource, fldPath *field.Path) field.ErrorList {
	if hp.Path == "" {
		return field.ErrorList{field.Required(fldPath.Child("path"), "")}
	}
	errs := validatePathNoBacksteps(hp.Path, fldPath.Child("path"))
	if hp.Type != nil {
		supported := []corev1.HostPathType{
			corev1.HostPathUnset, corev1.HostPathBlockDev, corev1.HostPathCharDev, corev1.HostPathDirectory,
			corev1.HostPathDirectoryOrCreate, corev1.HostPathFile, corev1.HostPathFileOrCreate, corev1.HostPathSocket,
		}
		found := false
		for _, t := range supported {
			found = found || *hp.Type == t
		}
		if !found {
			errs = append(errs, field.NotSupported(fldPath.Child("type"), hp.Type, supported))
		}
	}
	return errs
}

// validateProjectedFiles validates a secret or configMap volume: the name,
// the default mode and the key-to-path items.
func validateProjectedFiles(name, nameField string, mode *int32, items []corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(fldPath.Child(nameField), ""))
	}
	if mode != nil && (*mode > 0777 || *mode < 0) {
		errs = append(errs, field.Invalid(fldPath.Child("defaultMode"), *mode, fileModeErrorMsg))
	}
	for i := range items {
		errs = append(errs, validateKeyToPath(&items[i], fldPath.Child("items").Index(i))...)
	}
	return errs
}

func validateKeyToPath(kp *corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if kp.Key == "" {
		errs = append(errs, field.Required(fldPath.Child("key"), ""))
	}
	if kp.Path == "" {
		errs = append(errs, field.Required(fldPath.Child("path"), ""))
	}
	errs = append(errs, validateLocalNonReservedPath(kp.Path, fldPath.Child("path"))...)
	if kp.Mode != nil && (*kp.Mode > 0777 || *kp.Mode < 0) {
		errs = append(errs, field.Invalid(fldPath.Child("mode"), *kp.Mode, fileModeErrorMsg))
	}
	return errs
}

func validateDownwardAPIVolume(d *corev1.DownwardAPIVolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if d.DefaultMode != nil && (*d.DefaultMode > 0777 || *d.DefaultMode < 0) {
		errs = append(errs, field.Invalid(fldPath.Child("defaultMode"), *d.DefaultMode, fileModeErrorMsg))
	}
	for i := range d.Items {
		errs = append(errs, validateDownwardAPIFile(&d.Items[i], fldPath)...)
	}
	return errs
}

func validateDownwardAPIFile(file *corev1.DownwardAPIVolumeFile, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if file.Path == "" {
		errs = append(errs, field.Required(fldPath.Child("path"), ""))
	}
	errs = append(errs, validateLocalNonReservedPath(file.Path, fldPath.Child("path"))...)
	switch {
	case file.FieldRef != nil:
		errs = append(errs, validateObjectFieldSelector(file.FieldRef, validVolumeFieldPaths, fldPath.Child("fieldRef"))...)
		if file.ResourceFieldRef != nil {
			errs = append(errs, field.Invalid(fldPath, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case file.ResourceFieldRef != nil:
		errs = append(errs, validateResourceFieldSelector(file.ResourceFieldRef, true, fldPath.Child("resourceFieldRef"))...)
	default:
		errs = append(errs, field.Required(fldPath, "one of fieldRef and resourceFieldRef is required"))
	}
	if file.Mode != nil && (*file.Mode > 0777 || *file.Mode < 0) {
		errs = append(errs, field.Invalid(fldPath.Child("mode"), *file.Mode, fileModeErrorMsg))
	}
	return errs
}

func validateProjected(p *corev1.ProjectedVolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if p.DefaultMode != nil && (*p.DefaultMode > 0777 || *p.DefaultMode < 0) {
		errs = append(errs, field.Invalid(fldPath.Child("defaultMode"), *p.DefaultMode, fileModeErrorMsg))
	}
	paths := sets.New[string]()
	dup := func(p string, value any) {
		if p == "" {
			return
		}
		if paths.Has(p) {
			errs = append(errs, field.Invalid(fldPath, value, "conflicting duplicate paths"))
		}
		paths.Insert(p)
	}
	for i, s := range p.Sources {
		srcPath := fldPath.Child("sources").Index(i)
		n := 0
		if s.Secret != nil {
			n++
			errs = append(errs, validateProjectedItems(s.Secret.Name, s.Secret.Items, srcPath.Child("secret"), dup)...)
		}
		if s.ConfigMap != nil {
			n++
			errs = append(errs, validateProjectedItems(s.ConfigMap.Name, s.ConfigMap.Items, srcPath.Child("configMap"), dup)...)
		}
		if s.DownwardAPI != nil {
			n++
			for j := range s.DownwardAPI.Items {
				errs = append(errs, validateDownwardAPIFile(&s.DownwardAPI.Items[j], srcPath.Child("downwardAPI"))...)
				dup(s.DownwardAPI.Items[j].Path, s.DownwardAPI.Items[j].Path)
			}
		}
		if s.ServiceAccountToken != nil {
			n++
			errs = append(errs, validateTokenProjection(s.ServiceAccountToken, srcPath.Child("serviceAccountToken"), fldPath)...)
		}
		if s.ClusterTrustBundle != nil || s.PodCertificate != nil {
			n++
		}
		if n > 1 {
			errs = append(errs, field.Forbidden(srcPath, "may not specify more than 1 volume type per source"))
		}
	}
	return errs
}

func validateProjectedItems(name string, items []corev1.KeyToPath, fldPath *field.Path, dup func(string, any)) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(fldPath.Child("name"), ""))
	}
	for i := range items {
		errs = append(errs, validateKeyToPath(&items[i], fldPath.Child("items").Index(i))...)
		dup(items[i].Path, name)
	}
	return errs
}

func validateTokenProjection(t *corev1.ServiceAccountTokenProjection, fldPath, projectedPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.ExpirationSeconds != nil {
		if *t.ExpirationSeconds < 10*60 {
			errs = append(errs, field.Invalid(fldPath.Child("expirationSeconds"), t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
		}
		if *t.ExpirationSeconds > 1<<32 {
			errs = append(errs, field.Invalid(fldPath.Child("expirationSeconds"), t.ExpirationSeconds, "may not specify a duration larger than 2^32 seconds"))
		}
	}
	if t.Path == "" {
		errs = append(errs, field.Required(projectedPath.Child("path"), ""))
	} else {
		errs = append(errs, validateLocalNonReservedPath(t.Path, projectedPath.Child("path"))...)
	}
	return errs
}

func validateEphemeralName(volName string, podMeta *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	if podMeta == nil || podMeta.Name == "" || volName == "" {
		return nil
	}
	var errs field.ErrorList
	pvcName := podMeta.Name + "-" + volName
	for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(pvcName, false) {
		errs = append(errs, field.Invalid(fldPath.Child("name"), volName, fmt.Sprintf("PVC name %q: %v", pvcName, msg)))
	}
	return errs
}

// validateVolumeMounts is upstream's ValidateVolumeMounts (volumeDevices are
// not supported by Skiff and are left unchecked).
func validateVolumeMounts(ctr *corev1.Container, volumes map[string]corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	mountpoints := sets.New[string]()
	for i, mnt := range ctr.VolumeMounts {
		idx := fldPath.Index(i)
		if mnt.Name == "" {
			errs = append(errs, field.Required(idx.Child("name"), ""))
		}
		if _, ok := volumes[mnt.Name]; !ok {
			errs = append(errs, field.NotFound(idx.Child("name"), mnt.Name))
		}
		if mnt.MountPath == "" {
			errs = append(errs, field.Required(idx.Child("mountPath"), ""))
		}
		if mountpoints.Has(mnt.MountPath) {
			errs = append(errs, field.Invalid(idx.Child("mountPath"), mnt.MountPath, "must be unique"))
		}
		mountpoints.Insert(mnt.MountPath)
		if mnt.SubPath != "" {
			errs = append(errs, validateLocalDescendingPath(mnt.SubPath, fldPath.Child("subPath"))...)
		}
		if mnt.SubPathExpr != "" {
			if mnt.SubPath != "" {
				errs = append(errs, field.Invalid(idx.Child("subPathExpr"), mnt.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			errs = append(errs, validateLocalDescendingPath(mnt.SubPathExpr, fldPath.Child("subPathExpr"))...)
		}
		errs = append(errs, validateMountPropagation(mnt.MountPropagation, ctr, fldPath.Child("mountPropagation"))...)
	}
	return errs
}

func validateMountPropagation(mp *corev1.MountPropagationMode, ctr *corev1.Container, fldPath *field.Path) field.ErrorList {
	if mp == nil {
		return nil
	}
	var errs field.ErrorList
	supported := []corev1.MountPropagationMode{corev1.MountPropagationBidirectional, corev1.MountPropagationHostToContainer, corev1.MountPropagationNone}
	switch *mp {
	case corev1.MountPropagationBidirectional, corev1.MountPropagationHostToContainer, corev1.MountPropagationNone:
	default:
		errs = append(errs, field.NotSupported(fldPath, *mp, supported))
	}
	privileged := ctr.SecurityContext != nil && ctr.SecurityContext.Privileged != nil && *ctr.SecurityContext.Privileged
	if *mp == corev1.MountPropagationBidirectional && !privileged {
		errs = append(errs, field.Forbidden(fldPath, "Bidirectional mount propagation is available only to privileged containers"))
	}
	return errs
}

func validateLocalDescendingPath(target string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(target) {
		errs = append(errs, field.Invalid(fldPath, target, "must be a relative path"))
	}
	return append(errs, validatePathNoBacksteps(target, fldPath)...)
}

func validatePathNoBacksteps(target string, fldPath *field.Path) field.ErrorList {
	for _, item := range strings.Split(filepath.ToSlash(target), "/") {
		if item == ".." {
			return field.ErrorList{field.Invalid(fldPath, target, "must not contain '..'")}
		}
	}
	return nil
}

func validateLocalNonReservedPath(target string, fldPath *field.Path) field.ErrorList {
	errs := validateLocalDescendingPath(target, fldPath)
	if strings.HasPrefix(target, "..") && !strings.HasPrefix(target, "../") {
		errs = append(errs, field.Invalid(fldPath, target, "must not start with '..'"))
	}
	return errs
}
