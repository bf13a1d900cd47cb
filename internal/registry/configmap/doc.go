// Package configmap is the registry strategy for core/v1 ConfigMaps: upstream
// validation (config keys, the 1 MiB size limit, keys unique across data and
// binaryData, the immutable field), field-selector attributes and the
// server-side table (NAME, DATA, AGE).
//
// The generic store drives it:
//
//	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}}
//	configmap.SetDefaults(cm)
//	configmap.Strategy.PrepareForCreate(ctx, cm)
//	if errs := configmap.Strategy.Validate(ctx, cm); len(errs) > 0 {
//		return apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, cm.Name, errs)
//	}
//	table, err := configmap.TableConvertor.ConvertToTable(ctx, cm, &metav1.TableOptions{})
package configmap
