package auth_test

import (
	"encoding/json"
	"strings"
)

// forbiddenBody is upstream's 403 Status for call c with message msg.
func forbiddenBody(msg string, c call) string {
	group, kind, name := "", c.resource, ""
	switch c.resource {
	case "jobs":
		group = "batch"
	case "pods/log":
		kind = "pods"
	}
	if i := strings.Index(msg, ` "`); i > 0 && strings.Index(msg, " is forbidden") > i {
		name = msg[i+2 : strings.Index(msg, `" is forbidden`)]
	}
	details := map[string]string{"kind": kind}
	if group != "" {
		details["group"] = group
	}
	if name != "" {
		details["name"] = name
	}
	d, _ := json.Marshal(details)
	m, _ := json.Marshal(msg)
	return `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":` + string(m) + `,"reason":"Forbidden","details":` + reorder(string(d)) + `,"code":403}`
}

// reorder puts details keys in Go's field order: name, group, kind.
func reorder(d string) string {
	var m map[string]string
	_ = json.Unmarshal([]byte(d), &m)
	var parts []string
	for _, k := range []string{"name", "group", "kind"} {
		if v, ok := m[k]; ok {
			b, _ := json.Marshal(v)
			parts = append(parts, `"`+k+`":`+string(b))
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}
