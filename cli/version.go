package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

const versionAbout = `
Prints the version of bridge's module (github.com/fanoutbridge/bridge) this
binary was built from: the release tag when it was installed with go install
...@VERSION, or (devel) with the commit and its time when built from a
checkout; then the Go version and platform.

Examples:
  bridge version`

func cmdVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "bridge version", versionAbout, stdout, stderr)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if err := noArgs(fs.FlagSet, "version", stderr); err != nil {
		return err
	}
	fmt.Fprint(stdout, versionText(debug.ReadBuildInfo()))
	return nil
}

// modulePath is bridge's module; a binary that embeds the cli package in
// its own main module reports bridge's version from its dependencies.
const modulePath = "github.com/fanoutbridge/bridge"

// versionText says which bridge this is: module version (or "(devel)"
// with the VCS revision, time and a modified mark when the build has them)
// and Go version.
func versionText(bi *debug.BuildInfo, ok bool) string {
	version, goVersion := "(devel)", runtime.Version()
	var vcs []string
	if ok {
		goVersion = bi.GoVersion
		mod := &bi.Main
		for _, d := range bi.Deps {
			if d.Path == modulePath && bi.Main.Path != modulePath {
				mod = d
				if d.Replace != nil {
					mod = d.Replace
				}
			}
		}
		if mod.Version != "" {
			version = mod.Version
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if r := settings["vcs.revision"]; r != "" {
			vcs = append(vcs, "revision "+r)
		}
		if t := settings["vcs.time"]; t != "" {
			vcs = append(vcs, "committed "+t)
		}
		if settings["vcs.modified"] == "true" {
			vcs = append(vcs, "with uncommitted changes")
		}
	}
	line := "bridge " + version
	if len(vcs) > 0 {
		line += " (" + strings.Join(vcs, ", ") + ")"
	}
	return fmt.Sprintf("%s\n%s %s/%s\n", line, goVersion, runtime.GOOS, runtime.GOARCH)
}
