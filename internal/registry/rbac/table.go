package rbac

import (
	"context"
	"fmt"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/skiff-sh/skiff/internal/registry/generic"
)

// Column sets of upstream's printers (printRole, printRoleBinding...).
var (
	roleColumns = []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
	}
	bindingColumns = []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		{Name: "Role", Type: "string", Description: rbacv1.RoleBinding{}.SwaggerDoc()["roleRef"]},
		{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
		{Name: "Users", Type: "string", Priority: 1, Description: "Users in the roleBinding"},
		{Name: "Groups", Type: "string", Priority: 1, Description: "Groups in the roleBinding"},
		{Name: "ServiceAccounts", Type: "string", Priority: 1, Description: "ServiceAccounts in the roleBinding"},
	}
)

// tableConvertor renders one RBAC kind; kind is its served Kind, for
// IncludeObject=Object rows.
type tableConvertor struct {
	kind    string
	columns []metav1.TableColumnDefinition
}

// The table convertors of the four kinds.
var (
	RoleTableConvertor               = tableConvertor{kind: "Role", columns: roleColumns}
	ClusterRoleTableConvertor        = tableConvertor{kind: "ClusterRole", columns: roleColumns}
	RoleBindingTableConvertor        = tableConvertor{kind: "RoleBinding", columns: bindingColumns}
	ClusterRoleBindingTableConvertor = tableConvertor{kind: "ClusterRoleBinding", columns: bindingColumns}
)

var _ generic.TableConvertor = tableConvertor{}

func (tc tableConvertor) ConvertToTable(_ context.Context, obj runtime.Object, opts *metav1.TableOptions) (*metav1.Table, error) {
	var items []runtime.Object
	if meta.IsListType(obj) {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, fmt.Errorf("rbac table: %w", err)
		}
	} else {
		items = []runtime.Object{obj}
	}
	rows := make([]metav1.TableRow, 0, len(items))
	for _, item := range items {
		r, err := row(item)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	table := &metav1.Table{Rows: rows}
	if opts == nil || !opts.NoHeaders {
		table.ColumnDefinitions = tc.columns
	}
	if l, err := meta.ListAccessor(obj); err == nil {
		table.ResourceVersion, table.Continue, table.RemainingItemCount = l.GetResourceVersion(), l.GetContinue(), l.GetRemainingItemCount()
	} else if m, err := meta.Accessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
	}
	return table, tc.includeObject(table, opts)
}

func row(obj runtime.Object) (metav1.TableRow, error) {
	r := metav1.TableRow{Object: runtime.RawExtension{Object: obj}}
	switch o := obj.(type) {
	case *rbacv1.Role:
		r.Cells = []any{o.Name, createdAt(o.CreationTimestamp)}
	case *rbacv1.ClusterRole:
		r.Cells = []any{o.Name, createdAt(o.CreationTimestamp)}
	case *rbacv1.RoleBinding:
		r.Cells = bindingCells(o.Name, o.RoleRef, o.Subjects, o.CreationTimestamp)
	case *rbacv1.ClusterRoleBinding:
		r.Cells = bindingCells(o.Name, o.RoleRef, o.Subjects, o.CreationTimestamp)
	default:
		return r, fmt.Errorf("rbac table: unexpected object type %T", obj)
	}
	return r, nil
}

func bindingCells(name string, ref rbacv1.RoleRef, subjects []rbacv1.Subject, created metav1.Time) []any {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		case rbacv1.ServiceAccountKind:
			sas = append(sas, s.Namespace+"/"+s.Name)
		}
	}
	return []any{name, ref.Kind + "/" + ref.Name, age(created), strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", ")}
}

// createdAt renders a timestamp as upstream's roles printer (RFC 3339, UTC).
func createdAt(t metav1.Time) string {
	return t.UTC().Format(time.RFC3339)
}

func age(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}

// includeObject applies opts.IncludeObject as kube-apiserver does (default
// Metadata).
func (tc tableConvertor) includeObject(table *metav1.Table, opts *metav1.TableOptions) error {
	include := metav1.IncludeMetadata
	if opts != nil && opts.IncludeObject != "" {
		include = opts.IncludeObject
	}
	for i := range table.Rows {
		item := &table.Rows[i].Object
		switch include {
		case metav1.IncludeObject:
			full := item.Object.DeepCopyObject()
			full.GetObjectKind().SetGroupVersionKind(rbacv1.SchemeGroupVersion.WithKind(tc.kind))
			item.Object = full
		case metav1.IncludeMetadata:
			m, err := meta.Accessor(item.Object)
			if err != nil {
				return fmt.Errorf("rbac table: reading metadata: %w", err)
			}
			partial := meta.AsPartialObjectMetadata(m)
			partial.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata"))
			item.Object = partial
		case metav1.IncludeNone:
			item.Object = nil
		default:
			return apierrors.NewBadRequest(fmt.Sprintf("unrecognized includeObject value: %q", include))
		}
	}
	return nil
}
