// Package event is the registry strategy for core/v1 Events (events.k8s.io
// is not served): upstream's legacy event validation, which is all
// kube-apiserver applies to core/v1 events, followed by the generic
// ObjectMeta rules; the Unsupported garbage-collection policy; the
// involvedObject.*, reason, reportingComponent, source and type field
// selectors; and the server-side table (LAST SEEN, TYPE, REASON, OBJECT,
// MESSAGE + wide SUBOBJECT, SOURCE, FIRST SEEN, COUNT, NAME).
//
//	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "pi.1", Namespace: "default"},
//		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "pi"},
//		Reason: "Started", Type: corev1.EventTypeNormal}
//	errs := event.Strategy.Validate(ctx, ev)
//
// Event TTL is the server's concern, not the strategy's.
package event
