// Package deploy holds policypush's deployment files: a Docker Compose
// stack (compose/), Kubernetes manifests (k8s/), Prometheus alerts and
// configuration (prometheus/) and a Grafana dashboard (grafana/). It has
// no code; its tests check those files by parsing them (deploy_test.go).
package deploy
