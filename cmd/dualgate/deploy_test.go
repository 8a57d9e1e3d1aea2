package main

import (
	"bufio"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/spf13/pflag"
)

// flagForEnv is the serve flag a DUALGATE_* variable sets (applyEnv).
func flagForEnv(fs *pflag.FlagSet, env string) *pflag.Flag {
	name, ok := strings.CutPrefix(env, "DUALGATE_")
	if !ok {
		return nil
	}
	return fs.Lookup(strings.ToLower(strings.ReplaceAll(name, "_", "-")))
}

// TestDeployExamples checks deploy/ against the binary (no container engine
// runs here, so the image itself is not built in tests): the sidecar pod's
// dualgate arguments and DUALGATE_* variables are serve flags that parse,
// make a sidecar that may start (--users needs --catalog), and its probes
// and port point at the admin listener's /healthz and /readyz; the
// Dockerfile's variables are serve flags and it exposes the ports they
// listen on.
func TestDeployExamples(t *testing.T) {
	b, err := os.ReadFile("../../deploy/kubernetes/sidecar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	var pod struct {
		Spec struct {
			Containers []struct {
				Name string   `yaml:"name"`
				Args []string `yaml:"args"`
				Env  []struct {
					Name string `yaml:"name"`
				} `yaml:"env"`
				Ports []struct {
					Name          string `yaml:"name"`
					ContainerPort int    `yaml:"containerPort"`
				} `yaml:"ports"`
				Liveness  *probe `yaml:"livenessProbe"`
				Readiness *probe `yaml:"readinessProbe"`
				Startup   *probe `yaml:"startupProbe"`
			} `yaml:"containers"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &pod); err != nil {
		t.Fatalf("sidecar.yaml: %v", err)
	}
	found := false
	for _, c := range pod.Spec.Containers {
		if c.Name != "dualgate" {
			continue
		}
		found = true
		if len(c.Args) == 0 || c.Args[0] != "serve" {
			t.Fatalf("dualgate container args %v: want serve …", c.Args)
		}
		o := &serveOptions{}
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		o.register(fs)
		if err := fs.Parse(c.Args[1:]); err != nil {
			t.Fatalf("dualgate container args %v: %v", c.Args, err)
		}
		for _, e := range c.Env {
			if flagForEnv(fs, e.Name) == nil {
				t.Errorf("env %s sets no serve flag", e.Name)
			}
		}
		if o.role != "sidecar" || (o.users != "" && o.catalog == "") {
			t.Errorf("a sidecar that may start: role %q, users %q, catalog %q", o.role, o.users, o.catalog)
		}
		_, adminPort, err := net.SplitHostPort(o.admin)
		if err != nil {
			t.Fatalf("--admin %q: %v", o.admin, err)
		}
		for _, p := range c.Ports {
			if p.Name == "admin" && strconv.Itoa(p.ContainerPort) != adminPort {
				t.Errorf("port admin %d, --admin listens on %s", p.ContainerPort, adminPort)
			}
		}
		for name, pr := range map[string]*probe{"liveness": c.Liveness, "readiness": c.Readiness, "startup": c.Startup} {
			if pr == nil || pr.HTTPGet.Port != "admin" || (pr.HTTPGet.Path != "/healthz" && pr.HTTPGet.Path != "/readyz") {
				t.Errorf("%s probe %+v: want /healthz or /readyz on the admin port", name, pr)
			}
		}
	}
	if !found {
		t.Fatal("sidecar.yaml has no dualgate container")
	}

	f, err := os.Open("../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	(&serveOptions{}).register(fs)
	exposed := map[string]bool{}
	envs := map[string]string{}
	inEnv := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "EXPOSE ") {
			for _, p := range strings.Fields(line)[1:] {
				exposed[p] = true
			}
		}
		if strings.HasPrefix(line, "ENV ") {
			inEnv, line = true, strings.TrimPrefix(line, "ENV ")
		}
		if inEnv {
			kv := strings.TrimSpace(strings.TrimSuffix(line, "\\"))
			if k, v, ok := strings.Cut(kv, "="); ok {
				envs[k] = v
			}
			inEnv = strings.HasSuffix(line, "\\")
		}
	}
	if len(envs) == 0 {
		t.Fatal("Dockerfile sets no DUALGATE_* variables")
	}
	for k, v := range envs {
		fl := flagForEnv(fs, k)
		if fl == nil {
			t.Errorf("Dockerfile ENV %s sets no serve flag", k)
			continue
		}
		if err := fs.Set(fl.Name, v); err != nil {
			t.Errorf("Dockerfile ENV %s=%s: %v", k, v, err)
		}
		if k == "DUALGATE_LISTEN" || k == "DUALGATE_ADMIN" {
			if _, port, err := net.SplitHostPort(v); err != nil || !exposed[port] {
				t.Errorf("Dockerfile ENV %s=%s: port not EXPOSEd (%v)", k, v, exposed)
			}
		}
	}
}
