package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
)

// This file is the one place where settings are read (operator guide §2): a flag on
// the command line wins, then the environment variable PIXELGATE_<FLAG>
// (upper case, '-' as '_'), then the config file named by --config (or
// PIXELGATE_CONFIG), then the flag's default.

// errHelpShown: -h was asked for and printed; not a failure.
var errHelpShown = errors.New("help shown")

// flagSet wraps flag.FlagSet with the env/config-file layering and remembers
// where each effective value came from, for check-config.
type flagSet struct {
	*flag.FlagSet
	env    *environ
	config *string
	origin map[string]string // flag name -> "flag", "env", "config", "default"
	// strict makes unknown config-file keys an error (check-config).
	strict bool

	// usage and about are the help text; actions the verbs of a command
	// that has several (flags.go).
	usage, about string
	actions      []action
	// pos are the positional arguments, wherever they stood (flags.go).
	pos []string
}

// newFlagSet starts the flags of one command. usage is the line after
// "Usage: pixelgate "; about says what the command does.
func newFlagSet(env *environ, usage, about string) *flagSet {
	name, _, _ := strings.Cut(usage, " ")
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), env: env, origin: map[string]string{},
		usage: usage, about: about}
	// The flag package's own messages are silenced: parseFlags prints help
	// on stdout when asked for, and errors come back to runMain once.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.config = fs.String("config", "", "config file of `key = value` lines (keys are flag names)")
	return fs
}

// parse parses args (flags anywhere, see flags.go), then fills every flag
// not given on the command line from the environment or the config file.
func (fs *flagSet) parse(args []string) error {
	pos, err := fs.parseFlags(args)
	if err != nil {
		return err
	}
	fs.pos = pos
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true; fs.origin[f.Name] = "flag" })

	if !set["config"] {
		if v := fs.env.getenv(envName("config")); v != "" {
			*fs.config = v
			fs.origin["config"] = "env"
		}
	}
	var file map[string]string
	if *fs.config != "" {
		var err error
		if file, err = readConfigFile(*fs.config); err != nil {
			return err
		}
		// One config file serves every command, so keys another command
		// defines are ignored here; check-config (strict) reports typos.
		if fs.strict {
			for k := range file {
				if fs.Lookup(k) == nil {
					return fmt.Errorf("%w: config file %s: unknown setting %q", errUsage, *fs.config, k)
				}
			}
		}
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || f.Name == "config" {
			return
		}
		if v, ok := lookupEnv(fs.env, envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("environment %s: %w", envName(f.Name), err))
			}
			fs.origin[f.Name] = "env"
			return
		}
		if v, ok := file[f.Name]; ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("config file %s: %s: %w", *fs.config, f.Name, err))
			}
			fs.origin[f.Name] = "config"
			return
		}
		fs.origin[f.Name] = "default"
	})
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", errUsage, errors.Join(errs...))
	}
	return nil
}

// lookupEnv treats an empty variable as unset, so `PIXELGATE_X= cmd` does
// not silently override a config file with nothing.
func lookupEnv(env *environ, name string) (string, bool) {
	v := env.getenv(name)
	return v, v != ""
}

func envName(flagName string) string {
	return "PIXELGATE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// readConfigFile reads `key = value` lines; '#' starts a comment line; a value
// may be double-quoted (Go syntax) to keep leading or trailing spaces or '#'.
func readConfigFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("config file %s:%d: want `key = value`, got %q", path, n, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if strings.HasPrefix(v, `"`) {
			uq, err := strconv.Unquote(v)
			if err != nil {
				return nil, fmt.Errorf("config file %s:%d: bad quoted value: %w", path, n, err)
			}
			v = uq
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("config file %s:%d: %q set twice", path, n, k)
		}
		out[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read config file %s: %w", path, err)
	}
	return out, nil
}

// isSecretFlag: these flags hold credentials or key material; check-config masks them.
func isSecretFlag(name string) bool {
	for _, s := range []string{"password", "secret", "token", "pass"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// effective lists every setting with its value (secrets masked) and origin,
// sorted by name, for check-config.
func (fs *flagSet) effective() [][3]string {
	var rows [][3]string
	fs.VisitAll(func(f *flag.Flag) {
		v := f.Value.String()
		switch {
		case isSecretFlag(f.Name) && v != "":
			v = "(hidden)"
		case strings.Contains(v, "://"):
			v = maskURL(v)
		}
		rows = append(rows, [3]string{f.Name, v, fs.origin[f.Name]})
	})
	sort.Slice(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
	return rows
}

// maskURL hides the password in smtp://user:pass@host and redis:// URLs.
func maskURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// storeFlags are the settings of every command that opens the store.
type storeFlags struct {
	dataDir  *string
	redisURL *string
	// keys and retention: store.go.
	secrets storeSecretFlags
}

func addStoreFlags(fs *flagSet) storeFlags {
	return storeFlags{
		dataDir:  fs.String("data-dir", "./data", "directory for the embedded store, keys, outbox and self-signed certificate"),
		redisURL: fs.String("redis-url", "", "Redis URL (redis://, rediss://, redis-sentinel://, or several host:port for Cluster); empty = embedded store in --data-dir"),
		secrets:  addStoreSecretFlags(fs),
	}
}
