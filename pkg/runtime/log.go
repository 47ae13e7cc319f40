package runtime

import (
	"context"
	"os/exec"
	"strings"
)

type commandLogKey struct{}

// WithCommandLog returns a context under which runtimes report each
// external command they run (go, pip) to log, with its directory: what
// kiln -v shows. Runtimes find it with LogCommand.
func WithCommandLog(ctx context.Context, log func(line string)) context.Context {
	return context.WithValue(ctx, commandLogKey{}, log)
}

// LogCommand reports cmd to the log ctx carries, if any, before it runs.
func LogCommand(ctx context.Context, cmd *exec.Cmd) {
	log, _ := ctx.Value(commandLogKey{}).(func(string))
	if log == nil {
		return
	}
	var b strings.Builder
	if cmd.Dir != "" {
		b.WriteString("cd " + cmd.Dir + " && ")
	}
	for i, a := range cmd.Args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a == "" || strings.ContainsAny(a, " \t\n'\"$\\*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		b.WriteString(a)
	}
	log(b.String())
}
