package server

import (
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/internal/apiserver"
	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// bindingHandler serves POST pods/{name}/binding, as upstream's BindingREST:
// it assigns an unbound pod to a node and marks it PodScheduled.
type bindingHandler struct {
	pods *generic.Store
}

func (h *bindingHandler) ServeSubresource(w http.ResponseWriter, r *http.Request, req *apiserver.Request) error {
	binding := &corev1.Binding{}
	if err := apiserver.DecodeBody(r, binding, corev1.SchemeGroupVersion.WithKind("Binding")); err != nil {
		return err
	}
	opts := metav1.CreateOptions{}
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, &opts); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if binding.Name == "" {
		binding.Name = req.Name
	}
	if binding.Name != req.Name {
		return apierrors.NewBadRequest("name in URL does not match name in Binding object")
	}
	if errs := validateBinding(binding); len(errs) > 0 {
		return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), binding.Name, errs)
	}
	_, err := h.pods.GuaranteedUpdate(r.Context(), req.Namespace, req.Name, func(_ context.Context, cur runtime.Object) (runtime.Object, error) {
		return assign(cur.(*corev1.Pod), binding)
	}, len(opts.DryRun) > 0)
	if err != nil {
		return err
	}
	return apiserver.WriteStatus(w, r, &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusCreated}, http.StatusCreated)
}

func validateBinding(b *corev1.Binding) field.ErrorList {
	var errs field.ErrorList
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		errs = append(errs, field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node", "<empty>"}))
	}
	if b.Target.Name == "" {
		errs = append(errs, field.Required(field.NewPath("target", "name"), ""))
	}
	for _, msg := range path.IsValidPathSegmentName(b.Target.Name) {
		errs = append(errs, field.Invalid(field.NewPath("target", "name"), b.Target.Name, msg))
	}
	return errs
}

func assign(pod *corev1.Pod, b *corev1.Binding) (*corev1.Pod, error) {
	if b.UID != "" && b.UID != pod.UID {
		return nil, apierrors.NewConflict(corev1.Resource("pods/binding"), pod.Name, fmt.Errorf("precondition UID %s does not match %s", b.UID, pod.UID))
	}
	if pod.DeletionTimestamp != nil {
		return nil, apierrors.NewConflict(corev1.Resource("pods/binding"), pod.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", pod.Name))
	}
	if pod.Spec.NodeName != "" {
		return nil, apierrors.NewConflict(corev1.Resource("pods/binding"), pod.Name, fmt.Errorf("pod %v is already assigned to node %q", pod.Name, pod.Spec.NodeName))
	}
	pod.Spec.NodeName = b.Target.Name
	for k, v := range b.Annotations {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[k] = v
	}
	setCondition(&pod.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
	return pod, nil
}

func setCondition(st *corev1.PodStatus, c corev1.PodCondition) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == c.Type {
			if st.Conditions[i].Status == c.Status {
				c.LastTransitionTime = st.Conditions[i].LastTransitionTime
			}
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}
