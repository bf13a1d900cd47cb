package runtime

import "strings"

// ExpandVars expands $(VAR) references in s from env with the Pod API's
// semantics (upstream third_party/forked/golang/expansion): $(VAR) becomes
// env[VAR] when VAR is defined and stays literally "$(VAR)" when not; "$$" is
// an escaped "$", so "$$(VAR)" becomes "$(VAR)"; an unterminated "$(" stays.
func ExpandVars(s string, env map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	checkpoint := 0
	for cursor := 0; cursor < len(s); cursor++ {
		if s[cursor] != '$' || cursor+1 >= len(s) {
			continue
		}
		b.WriteString(s[checkpoint:cursor])
		read, isVar, advance := readVarName(s[cursor+1:])
		if isVar {
			if v, ok := env[read]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + read + ")")
			}
		} else {
			b.WriteString(read)
		}
		cursor += advance
		checkpoint = cursor + 1
	}
	b.WriteString(s[checkpoint:])
	return b.String()
}

// readVarName reads what follows a '$': it returns the text to emit (or the
// variable name when isVar), and how many bytes after the '$' it consumed.
func readVarName(s string) (read string, isVar bool, advance int) {
	switch s[0] {
	case '$':
		return "$", false, 1
	case '(':
		if end := strings.IndexByte(s[1:], ')'); end >= 0 {
			return s[1 : end+1], true, end + 2
		}
		return "$(", false, 1
	default:
		return "$" + s[:1], false, 1
	}
}

// EnvMap returns env as a map, later entries winning, for ExpandVars.
func EnvMap(env []EnvVar) map[string]string {
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.Name] = e.Value
	}
	return m
}
