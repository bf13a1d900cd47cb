package authz_test

import (
	"context"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	kubectlauth "k8s.io/kubectl/pkg/cmd/auth"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/skiff-sh/skiff/internal/testserver"
)

// daveRules are what dave's Role in team-a grants.
var daveRules = []rbacv1.PolicyRule{
	{Verbs: []string{"get", "list"}, APIGroups: []string{"batch"}, Resources: []string{"jobs"}},
	{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}, ResourceNames: []string{"p1"}},
	{Verbs: []string{"get"}, NonResourceURLs: []string{"/skiff/reports/*"}},
}

// setUpDave gives user dave a Role in team-a and, in team-b, a binding to a
// Role that does not exist; it returns a client-go config for dave.
func setUpDave(t *testing.T, ts *testserver.Server) *rest.Config {
	t.Helper()
	ctx := context.Background()
	createNamespaces(t, ts, "team-a", "team-b")
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader"}, Rules: daveRules[:2]}
	if _, err := ts.Client.RbacV1().Roles("team-a").Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	subjects := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "dave"}}
	for ns, ref := range map[string]string{"team-a": "reader", "team-b": "nope"} {
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "dave"}, Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: ref}}
		if _, err := ts.Client.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Non-resource rules come from cluster-wide bindings only.
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "reports"}, Rules: daveRules[2:]}
	if _, err := ts.Client.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "dave-reports"}, Subjects: subjects,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "reports"}}
	if _, err := ts.Client.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(ts.Config)
	cfg.BearerToken = issueTokenTTL(t, ts, "dave", 0).Token
	return cfg
}

func rulesReview(t *testing.T, c kubernetes.Interface, namespace string) (*authorizationv1.SelfSubjectRulesReview, error) {
	t.Helper()
	in := &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: namespace}}
	return c.AuthorizationV1().SelfSubjectRulesReviews().Create(context.Background(), in, metav1.CreateOptions{})
}

func TestSelfSubjectRulesReview_Create_RulesPerNamespace(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{APIOnly: true})
	dave, err := kubernetes.NewForConfig(setUpDave(t, ts))
	if err != nil {
		t.Fatal(err)
	}
	// Where dave has no binding, only the cluster-wide rules apply: those
	// every authenticated user has, and his ClusterRole.
	base, err := rulesReview(t, dave, "elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	if base.Status.Incomplete || base.Status.EvaluationError != "" {
		t.Fatalf("status %+v", base.Status)
	}
	wantBase := []authorizationv1.ResourceRule{
		{Verbs: []string{"create"}, APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"selfsubjectaccessreviews", "selfsubjectrulesreviews"}},
		{Verbs: []string{"create"}, APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"selfsubjectreviews"}},
	}
	if diff := cmp.Diff(wantBase, base.Status.ResourceRules); diff != "" {
		t.Errorf("cluster-wide resource rules (-want +got):\n%s", diff)
	}
	reports := authorizationv1.NonResourceRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/skiff/reports/*"}}
	if !containsNonResourceRule(base.Status.NonResourceRules, reports) {
		t.Errorf("non-resource rules lack %+v: %+v", reports, base.Status.NonResourceRules)
	}

	got, err := rulesReview(t, dave, "team-a")
	if err != nil {
		t.Fatal(err)
	}
	want := base.Status.DeepCopy()
	want.ResourceRules = append(want.ResourceRules,
		authorizationv1.ResourceRule{Verbs: []string{"get", "list"}, APIGroups: []string{"batch"}, Resources: []string{"jobs"}},
		authorizationv1.ResourceRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}, ResourceNames: []string{"p1"}})
	if diff := cmp.Diff(*want, got.Status); diff != "" {
		t.Errorf("team-a (-want +got):\n%s", diff)
	}

	// A binding to a missing Role: the rules that could be read, and the
	// error beside them.
	broken, err := rulesReview(t, dave, "team-b")
	if err != nil {
		t.Fatal(err)
	}
	want = base.Status.DeepCopy()
	want.EvaluationError = `roles.rbac.authorization.k8s.io "nope" not found`
	if diff := cmp.Diff(*want, broken.Status); diff != "" {
		t.Errorf("team-b (-want +got):\n%s", diff)
	}
}

func containsNonResourceRule(rules []authorizationv1.NonResourceRule, want authorizationv1.NonResourceRule) bool {
	for _, r := range rules {
		if cmp.Equal(r, want) {
			return true
		}
	}
	return false
}

func TestSelfSubjectRulesReview_Create_Errors(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{APIOnly: true})
	_, err := rulesReview(t, ts.Client, "")
	if !apierrors.IsBadRequest(err) || err.Error() != "no namespace on request" {
		t.Errorf("no namespace: %v", err)
	}
	// The admin (system:masters) gets cluster-admin's rules, as upstream.
	got, err := rulesReview(t, ts.Client, "default")
	if err != nil {
		t.Fatal(err)
	}
	all := authorizationv1.ResourceRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}
	found := false
	for _, r := range got.Status.ResourceRules {
		found = found || cmp.Equal(r, all)
	}
	if !found || !containsNonResourceRule(got.Status.NonResourceRules, authorizationv1.NonResourceRule{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}) {
		t.Errorf("admin rules lack cluster-admin's: %+v", got.Status)
	}
}

// kubectlFactory is kubectl's own factory for a kubeconfig holding cfg's
// server, CA and token, in namespace.
func kubectlFactory(t *testing.T, cfg *rest.Config, namespace string) cmdutil.Factory {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["skiff"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["skiff"] = &clientcmdapi.Context{Cluster: "skiff", AuthInfo: "user", Namespace: namespace}
	kc.CurrentContext = "skiff"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &path
	cacheDir := t.TempDir()
	flags.CacheDir = &cacheDir
	return cmdutil.NewFactory(flags)
}

// kubectl's own `auth can-i` (with and without --list) and `auth whoami`
// code, against the server.
func TestKubectlAuth_CanIAndWhoami(t *testing.T) {
	ts := testserver.Start(t, testserver.Options{APIOnly: true})
	f := kubectlFactory(t, setUpDave(t, ts), "team-a")
	streams, _, out, _ := genericiooptions.NewTestIOStreams()

	list := &kubectlauth.CanIOptions{IOStreams: streams, List: true}
	if err := list.Complete(f, nil); err != nil {
		t.Fatal(err)
	}
	if err := list.RunAccessList(); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`jobs\.batch\s+\[\]\s+\[\]\s+\[get list\]`,
		`pods\s+\[\]\s+\[p1\]\s+\[get\]`,
		`selfsubjectrulesreviews\.authorization\.k8s\.io\s+\[\]\s+\[\]\s+\[create\]`,
		`\s+\[/skiff/reports/\*\]\s+\[\]\s+\[get\]`,
	} {
		if !regexp.MustCompile(`(?m)^` + line + `\s*$`).MatchString(out.String()) {
			t.Errorf("can-i --list -n team-a lacks /%s/:\n%s", line, out)
		}
	}

	for args, want := range map[[2]string]bool{
		{"list", "jobs"}: true, {"create", "jobs"}: false, {"get", "pods/p1"}: true, {"get", "pods/p2"}: false,
	} {
		check := &kubectlauth.CanIOptions{IOStreams: streams, Quiet: true}
		if err := check.Complete(f, args[:]); err != nil {
			t.Fatal(err)
		}
		if got, err := check.RunAccessCheck(); err != nil || got != want {
			t.Errorf("can-i %s %s: %v %v, want %v", args[0], args[1], got, err, want)
		}
	}

	out.Reset()
	whoami := kubectlauth.NewCmdWhoAmI(f, streams)
	whoami.SetArgs(nil)
	if err := whoami.Execute(); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^Username\s+dave$`).MatchString(out.String()) {
		t.Errorf("whoami:\n%s", out)
	}
}
