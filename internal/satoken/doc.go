// Package satoken issues and authenticates service account tokens: the
// JWTs of upstream's TokenRequest API (kubernetes/pkg/serviceaccount),
// signed with the server's own ES256 key, bound to a pod, secret or node,
// and valid only while what they are bound to still exists.
package satoken
