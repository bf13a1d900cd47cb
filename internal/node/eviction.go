package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/util/retry"

	"github.com/skiff-sh/skiff/internal/apiserver"
)

// Eviction condition, as upstream's EvictionREST sets it.
const (
	reasonEvictionByAPI  = "EvictionByEvictionAPI"
	messageEvictionByAPI = "Eviction API: evicting"
)

// EvictionHandler serves POST pods/{name}/eviction (policy/v1 Eviction) as
// upstream's EvictionREST: it adds the DisruptionTarget condition to the
// pod's status and deletes the pod gracefully with the eviction's
// deleteOptions, answering 201 with a Success Status. Skiff has no
// PodDisruptionBudgets, so every eviction is allowed (upstream's behaviour
// when no budget selects the pod).
type EvictionHandler struct {
	pods   typedcorev1.PodsGetter
	logger *slog.Logger
}

var _ apiserver.SubresourceHandler = (*EvictionHandler)(nil)

// NewEvictionHandler returns the handler; pods is a privileged client
// (e.g. kubernetes.Interface.CoreV1()). logger may be nil.
func NewEvictionHandler(pods typedcorev1.PodsGetter, logger *slog.Logger) (*EvictionHandler, error) {
	if pods == nil {
		return nil, errors.New("eviction handler: pods client is required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &EvictionHandler{pods: pods, logger: logger}, nil
}

// ServeSubresource implements apiserver.SubresourceHandler.
func (h *EvictionHandler) ServeSubresource(w http.ResponseWriter, r *http.Request, req *apiserver.Request) error {
	ev := &policyv1.Eviction{}
	if err := apiserver.DecodeBody(r, ev, policyv1.SchemeGroupVersion.WithKind("Eviction")); err != nil {
		return err
	}
	createOpts := metav1.CreateOptions{}
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, &createOpts); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if ev.Name == "" {
		ev.Name = req.Name
	}
	if ev.Name != req.Name {
		return apierrors.NewBadRequest("name in URL does not match name in Eviction object")
	}
	opts := metav1.DeleteOptions{}
	if ev.DeleteOptions != nil {
		opts = *ev.DeleteOptions.DeepCopy()
	}
	if len(createOpts.DryRun) > 0 {
		if len(opts.DryRun) > 0 && !equalStrings(opts.DryRun, createOpts.DryRun) {
			return apierrors.NewBadRequest("DryRun in DeleteOptions and CreateOptions must be identical")
		}
		opts.DryRun = createOpts.DryRun
	}
	ctx := r.Context()
	pods := h.pods.Pods(req.Namespace)
	if len(opts.DryRun) > 0 {
		if _, err := pods.Get(ctx, req.Name, metav1.GetOptions{}); err != nil {
			return err
		}
	} else if err := h.addDisruptionTarget(ctx, pods, req.Name, &opts); err != nil {
		return err
	}
	if err := pods.Delete(ctx, req.Name, opts); err != nil {
		return err
	}
	h.logger.Debug("pod evicted", "pod", req.Namespace+"/"+req.Name)
	return apiserver.WriteStatus(w, r, &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusCreated}, http.StatusCreated)
}

// addDisruptionTarget sets the DisruptionTarget condition, honouring the
// delete preconditions; a resourceVersion precondition is moved to the
// version this update wrote, as upstream does.
func (h *EvictionHandler) addDisruptionTarget(ctx context.Context, pods typedcorev1.PodInterface, name string, opts *metav1.DeleteOptions) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != "" && *p.UID != pod.UID {
				return apierrors.NewConflict(corev1.Resource("pods"), name,
					fmt.Errorf("the UID in the precondition (%s) does not match the UID in record (%s). The object might have been deleted and then recreated", *p.UID, pod.UID))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != "" && *p.ResourceVersion != pod.ResourceVersion {
				return apierrors.NewConflict(corev1.Resource("pods"), name,
					fmt.Errorf("the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). The object might have been modified", *p.ResourceVersion, pod.ResourceVersion))
			}
		}
		cond := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
			Reason: reasonEvictionByAPI, Message: messageEvictionByAPI, LastTransitionTime: metav1.Now().Rfc3339Copy()}
		if old := findCondition(pod.Status.Conditions, corev1.DisruptionTarget); old != nil {
			if old.Status == cond.Status {
				cond.LastTransitionTime = old.LastTransitionTime
			}
			*old = cond
		} else {
			pod.Status.Conditions = append(pod.Status.Conditions, cond)
		}
		upd, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		if err != nil {
			return err
		}
		if p := opts.Preconditions; p != nil && p.ResourceVersion != nil && *p.ResourceVersion != "" {
			rv := upd.ResourceVersion
			p.ResourceVersion = &rv
		}
		return nil
	})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
