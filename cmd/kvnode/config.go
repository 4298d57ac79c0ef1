package main

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// configFlag names the TOML file of flag values; it reads $KVNODE_CONFIG
// like every flag, but cannot be set from the file itself.
const configFlag = "config"

// configValues reads a kvnode config file: TOML, one top-level key per
// flag, named as the flag without its dashes ("node-id = \"n1\"",
// "vnodes = 64", "join = [\"10.0.0.1:7101\", \"10.0.0.2:7101\"]"). Values
// are TOML strings (durations as "1m"), integers, floats, booleans, or for
// join a list of strings. A key that is not a flag, a test knob, config
// itself, a table or a value of another type is refused, naming the key.
// It returns each flag's value in the form flag.Value.Set takes.
func configValues(path string, fs *flag.FlagSet) (map[string]string, error) {
	var raw map[string]any
	if _, err := toml.DecodeFile(path, &raw); err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return nil, fmt.Errorf("--config %s: line %d: %s", path, perr.Position.Line, perr.Message)
		}
		return nil, fmt.Errorf("--config %s: %w", path, err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys) // of several bad keys, the same one is named on every run
	out := make(map[string]string, len(raw))
	for _, k := range keys {
		f := fs.Lookup(k)
		switch {
		case f == nil || k == versionFlag:
			return nil, fmt.Errorf("--config %s: unknown key %q: keys are kvnode's flag names (see kvnode --help)", path, k)
		case k == configFlag:
			return nil, fmt.Errorf("--config %s: key %q: a config file cannot name another", path, k)
		case isTestKnob(k):
			return nil, fmt.Errorf("--config %s: key %q: test knobs are taken from flags only", path, k)
		}
		s, err := configString(raw[k])
		if err != nil {
			return nil, fmt.Errorf("--config %s: key %q: %w", path, k, err)
		}
		out[k] = s
	}
	return out, nil
}

// configString renders a TOML value as a flag's command-line value.
func configString(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return "", fmt.Errorf("a list must hold strings, item %d is %T", i, e)
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	case map[string]any:
		return "", errors.New("a table: the config is flat, one key per flag")
	}
	return "", fmt.Errorf("unsupported value of type %T", v)
}
