// kube-apiserver for the local test fleet: the real server from the k8s.io/kubernetes
// module (see ../../go.mod), started through its own cobra command.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	// side-effect imports the release binary has too: JSON logging, client-go and version metrics
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "time/tzdata"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
