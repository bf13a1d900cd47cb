package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-sh/skiff/internal/auth"
)

// TenantAnnotation marks a namespace with the tenant that owns it.
const TenantAnnotation = "skiff.dev/tenant"

// tenantBindingName is the RoleBinding that makes the tenant admin of a
// namespace.
const tenantBindingName = "skiff-tenant-admin"

// tokenIssuer is what tenant creation needs from the token API.
type tokenIssuer interface {
	create(ctx context.Context, req auth.CreateTokenRequest) (*auth.CreatedToken, error)
}

func newTenantCommand() *cobra.Command {
	var kubeconfig string
	cmd := &cobra.Command{Use: "tenant", Short: "Manage tenants (needs an admin kubeconfig)"}
	cmd.PersistentFlags().StringVar(&kubeconfig, "kubeconfig", defaultKubeconfig, "admin kubeconfig of the running server")
	var namespaces []string
	var ttl time.Duration
	create := &cobra.Command{
		Use:   "create NAME --namespace NS...",
		Short: "Create a tenant's namespaces, make it admin there, and print its token (alone on the last line)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(namespaces) == 0 {
				return fmt.Errorf("at least one --namespace is required")
			}
			cs, err := adminClient(kubeconfig)
			if err != nil {
				return err
			}
			return createTenant(cmd.Context(), cmd.OutOrStdout(), cs, newTokenClient(cs), args[0], namespaces, ttl)
		},
	}
	create.Flags().StringSliceVar(&namespaces, "namespace", nil, "namespace of the tenant (repeatable)")
	create.Flags().DurationVar(&ttl, "ttl", 0, "lifetime of the tenant's token (default: no expiry)")
	cmd.AddCommand(create)
	return cmd
}

// createTenant creates (or adopts) each namespace, binds ClusterRole admin
// to user name there, and issues a token for name. A namespace that belongs
// to another tenant is an error.
func createTenant(ctx context.Context, out io.Writer, cs kubernetes.Interface, tokens tokenIssuer, name string, namespaces []string, ttl time.Duration) error {
	for _, ns := range namespaces {
		if err := ensureTenantNamespace(ctx, out, cs, name, ns); err != nil {
			return err
		}
		if err := ensureTenantBinding(ctx, out, cs, name, ns); err != nil {
			return err
		}
	}
	req := auth.CreateTokenRequest{User: name}
	if ttl > 0 {
		req.TTL = ttl.String()
	}
	created, err := tokens.create(ctx, req)
	if err != nil {
		return err
	}
	return printCreated(out, created)
}

func ensureTenantNamespace(ctx context.Context, out io.Writer, cs kubernetes.Interface, tenant, ns string) error {
	want := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Annotations: map[string]string{TenantAnnotation: tenant}}}
	_, err := cs.CoreV1().Namespaces().Create(ctx, want, metav1.CreateOptions{})
	if err == nil {
		_, err = fmt.Fprintf(out, "namespace/%s created\n", ns)
		return err
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	cur, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading namespace %s: %w", ns, err)
	}
	switch owner := cur.Annotations[TenantAnnotation]; owner {
	case tenant:
		_, err = fmt.Fprintf(out, "namespace/%s unchanged\n", ns)
		return err
	case "":
	default:
		return fmt.Errorf("namespace %s belongs to tenant %q", ns, owner)
	}
	cur = cur.DeepCopy()
	if cur.Annotations == nil {
		cur.Annotations = map[string]string{}
	}
	cur.Annotations[TenantAnnotation] = tenant
	if _, err := cs.CoreV1().Namespaces().Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("annotating namespace %s: %w", ns, err)
	}
	_, err = fmt.Fprintf(out, "namespace/%s annotated\n", ns)
	return err
}

func ensureTenantBinding(ctx context.Context, out io.Writer, cs kubernetes.Interface, tenant, ns string) error {
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: tenantBindingName, Namespace: ns, Annotations: map[string]string{TenantAnnotation: tenant}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: tenant}},
	}
	_, err := cs.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{})
	switch {
	case err == nil:
		_, err = fmt.Fprintf(out, "rolebinding.rbac.authorization.k8s.io/%s created in %s (admin for user %s)\n", tenantBindingName, ns, tenant)
		return err
	case !apierrors.IsAlreadyExists(err):
		return fmt.Errorf("binding %s as admin of %s: %w", tenant, ns, err)
	}
	cur, err := cs.RbacV1().RoleBindings(ns).Get(ctx, tenantBindingName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading rolebinding in %s: %w", ns, err)
	}
	for _, s := range cur.Subjects {
		if s.Kind == rbacv1.UserKind && s.Name == tenant && cur.RoleRef == rb.RoleRef {
			_, err = fmt.Fprintf(out, "rolebinding.rbac.authorization.k8s.io/%s unchanged in %s\n", tenantBindingName, ns)
			return err
		}
	}
	return fmt.Errorf("rolebinding %s/%s exists and does not bind %s to admin", ns, tenantBindingName, tenant)
}
