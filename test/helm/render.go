// Command render renders a Helm chart the way `helm template --include-crds` does, for tests on
// machines where helm itself cannot be installed (no Debian or npm package). It uses the engine
// Helm is built on: Go's text/template with the sprig v3 function library (Debian's
// golang-github-masterminds-sprig-dev), plus Helm's own functions include, tpl, required,
// toYaml, fromYaml, toJson and .Files.Get, with Helm's objects .Values (values.yaml, then
// --set overrides), .Release, .Chart and .Capabilities. It checks Chart.yaml the way
// `helm lint` does (apiVersion v2, name, SemVer version). Templates named _* only define;
// NOTES.txt is rendered (errors count) but not printed; documents that render empty are
// dropped. Output: every CRD of crds/, then every template, as a multi-document YAML stream.
//
//	render CHART_DIR [--name RELEASE] [--namespace NS] [--set a.b=v]...
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v2"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "render: "+format+"\n", args...)
	os.Exit(1)
}

// toStringKeys turns yaml.v2's map[interface{}]interface{} into map[string]interface{} (as
// Helm's values are), recursively.
func toStringKeys(v interface{}) interface{} {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		m := map[string]interface{}{}
		for k, val := range t {
			m[fmt.Sprint(k)] = toStringKeys(val)
		}
		return m
	case []interface{}:
		for i := range t {
			t[i] = toStringKeys(t[i])
		}
		return t
	}
	return v
}

func readYAML(path string) map[string]interface{} {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	var v interface{}
	if err := yaml.Unmarshal(data, &v); err != nil {
		fail("%s: %v", path, err)
	}
	if v == nil {
		return map[string]interface{}{}
	}
	m, ok := toStringKeys(v).(map[string]interface{})
	if !ok {
		fail("%s: not a mapping", path)
	}
	return m
}

// setValue applies one --set a.b.c=value (value typed as Helm's strvals does: true/false,
// integers, [a,b] lists, else a string).
func setValue(values map[string]interface{}, assignment string) {
	eq := strings.Index(assignment, "=")
	if eq <= 0 {
		fail("--set %q: want key=value", assignment)
	}
	keys := strings.Split(assignment[:eq], ".")
	raw := assignment[eq+1:]
	typed := func(s string) interface{} {
		if s == "true" || s == "false" {
			return s == "true"
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
		return s
	}
	var value interface{}
	if strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}") {
		list := []interface{}{}
		for _, item := range strings.Split(strings.Trim(raw, "{}"), ",") {
			if item != "" {
				list = append(list, typed(item))
			}
		}
		value = list
	} else {
		value = typed(raw)
	}
	m := values
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = value
}

var semver = regexp.MustCompile(`^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

type files struct{ root string }

// Get returns a chart file's contents ("" when absent, as Helm).
func (f files) Get(name string) string {
	data, err := os.ReadFile(filepath.Join(f.root, name))
	if err != nil {
		return ""
	}
	return string(data)
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: render CHART_DIR [--name RELEASE] [--namespace NS] [--set a.b=v]...")
	}
	dir := os.Args[1]
	release, namespace := "iter8", "default"
	var sets []string
	for i := 2; i < len(os.Args); i++ {
		if i+1 >= len(os.Args) {
			fail("%s needs a value", os.Args[i])
		}
		switch os.Args[i] {
		case "--name":
			release = os.Args[i+1]
		case "--namespace":
			namespace = os.Args[i+1]
		case "--set":
			sets = append(sets, os.Args[i+1])
		default:
			fail("unknown flag %s", os.Args[i])
		}
		i++
	}

	chart := readYAML(filepath.Join(dir, "Chart.yaml"))
	if chart["apiVersion"] != "v2" {
		fail("Chart.yaml: apiVersion must be v2, not %v", chart["apiVersion"])
	}
	for _, key := range []string{"name", "version"} {
		if s, ok := chart[key].(string); !ok || s == "" {
			fail("Chart.yaml: %s is required", key)
		}
	}
	if !semver.MatchString(chart["version"].(string)) {
		fail("Chart.yaml: version %q is not SemVer", chart["version"])
	}
	values := readYAML(filepath.Join(dir, "values.yaml"))
	for _, s := range sets {
		setValue(values, s)
	}

	root := template.New("chart")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env") // Helm removes these two
	delete(funcs, "expandenv")
	funcs["toYaml"] = func(v interface{}) string {
		out, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(out), "\n")
	}
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		var v interface{}
		if err := yaml.Unmarshal([]byte(s), &v); err != nil {
			return map[string]interface{}{"Error": err.Error()}
		}
		m, _ := toStringKeys(v).(map[string]interface{})
		return m
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return buf.String(), err
	}
	root.Funcs(funcs).Option("missingkey=zero")

	var names []string
	err := filepath.Walk(filepath.Join(dir, "templates"), func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		name := filepath.Join(chart["name"].(string), rel)
		if _, err := root.New(name).Parse(string(data)); err != nil {
			return err
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		fail("%v", err)
	}
	sort.Strings(names)

	ctx := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": release, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart": map[string]interface{}{
			"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"],
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{"Version": "v1.32.0", "Major": "1", "Minor": "32"},
		},
		"Files": files{root: dir},
	}

	var out bytes.Buffer
	crds, _ := filepath.Glob(filepath.Join(dir, "crds", "*.yaml"))
	sort.Strings(crds)
	for _, c := range crds {
		data, err := os.ReadFile(c)
		if err != nil {
			fail("%v", err)
		}
		rel, _ := filepath.Rel(dir, c)
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", filepath.Join(chart["name"].(string), rel), data)
	}
	for _, name := range names {
		base := filepath.Base(name)
		if strings.HasPrefix(base, "_") {
			continue
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, ctx); err != nil {
			fail("%v", err)
		}
		if base == "NOTES.txt" {
			continue
		}
		for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(buf.String(), -1) {
			// A document of only comments and blank lines is dropped, as Helm does.
			empty := true
			for _, line := range strings.Split(doc, "\n") {
				if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
					empty = false
					break
				}
			}
			if !empty {
				fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, strings.TrimSpace(doc))
			}
		}
	}
	os.Stdout.Write(out.Bytes())
}
