package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"time"

	"github.com/creack/pty"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/log"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	utilsexec "k8s.io/utils/exec"
)

// podmanContainer is the podman name of a container (regular, init or
// ephemeral) of a pod.
func podmanContainer(namespace, pod, container string) string {
	return podmanPodName(namespace, pod) + "_" + container
}

// RunInContainer is kubectl exec: `podman exec -i [-t] <container> cmd...`.
// A non-zero exit is returned as a utilsexec.ExitError so that
// virtual-kubelet reports NonZeroExitCode with the code (126/127 when
// podman cannot run the command).
func (p *Provider) RunInContainer(ctx context.Context, namespace, podName, containerName string, cmd []string, attach api.AttachIO) error {
	cname := podmanContainer(namespace, podName, containerName)
	if _, err := p.podman.run(ctx, "container", "exists", cname); err != nil {
		return errdefs.NotFoundf("container %s not found in pod %s/%s", containerName, namespace, podName)
	}
	args := []string{"exec"}
	if attach.Stdin() != nil {
		args = append(args, "-i")
	}
	if attach.TTY() {
		args = append(args, "-t")
	}
	args = append(args, cname)
	args = append(args, cmd...)
	return p.runAttached(ctx, args, cmd, attach)
}

// AttachToContainer is kubectl attach (used by kubectl debug -it):
// `podman attach` to the container's main process.
func (p *Provider) AttachToContainer(ctx context.Context, namespace, podName, containerName string, attach api.AttachIO) error {
	cname := podmanContainer(namespace, podName, containerName)
	if _, err := p.podman.run(ctx, "container", "exists", cname); err != nil {
		return errdefs.NotFoundf("container %s not found in pod %s/%s", containerName, namespace, podName)
	}
	args := []string{"attach", "--sig-proxy=false", "--detach-keys="}
	if attach.Stdin() == nil {
		args = append(args, "--no-stdin")
	}
	return p.runAttached(ctx, append(args, cname), nil, attach)
}

// runAttached runs podman wired to the attach streams: on a pty (with
// resize) when a TTY is requested, else on pipes.
func (p *Provider) runAttached(ctx context.Context, args, cmd []string, attach api.AttachIO) error {
	c := exec.CommandContext(ctx, p.podman.Bin, args...)
	log.G(ctx).Debugf("podman %v", args)
	if attach.TTY() {
		ptmx, err := pty.Start(c)
		if err != nil {
			return err
		}
		defer ptmx.Close()
		if in := attach.Stdin(); in != nil {
			go func() { _, _ = io.Copy(ptmx, in) }()
		}
		exited := make(chan struct{})
		defer close(exited)
		if rs := attach.Resize(); rs != nil {
			go func() {
				for {
					select {
					case sz := <-rs:
						_ = pty.Setsize(ptmx, &pty.Winsize{Rows: sz.Height, Cols: sz.Width})
					case <-exited:
						return
					}
				}
			}()
		}
		outDone := make(chan struct{})
		go func() {
			if out := attach.Stdout(); out != nil {
				_, _ = io.Copy(out, ptmx)
			} else {
				_, _ = io.Copy(io.Discard, ptmx)
			}
			close(outDone)
		}()
		err = c.Wait()
		// The pty reports EIO once drained and the child is gone.
		select {
		case <-outDone:
		case <-time.After(2 * time.Second):
		}
		return exitError(err, cmd)
	}

	if out := attach.Stdout(); out != nil {
		c.Stdout = out
	}
	if errw := attach.Stderr(); errw != nil {
		c.Stderr = errw
	}
	// stdin is copied by hand so that Wait does not wait for the client
	// to close its stdin after the process exited.
	var stdin io.WriteCloser
	if in := attach.Stdin(); in != nil {
		var err error
		if stdin, err = c.StdinPipe(); err != nil {
			return err
		}
		go func() {
			_, _ = io.Copy(stdin, in)
			stdin.Close()
		}()
	}
	if err := c.Start(); err != nil {
		return err
	}
	return exitError(c.Wait(), cmd)
}

// exitError turns podman's exit status into the ExitError virtual-kubelet
// reports as NonZeroExitCode (message as with containerd's CRI).
func exitError(err error, cmd []string) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() > 0 {
		return utilsexec.CodeExitError{Err: fmt.Errorf("error executing command %v, exit code %d", cmd, ee.ExitCode()), Code: ee.ExitCode()}
	}
	return err
}

// GetContainerLogs is kubectl logs: `podman logs` (tail, timestamps,
// since, follow; limitBytes applied here). There are no previous logs.
func (p *Provider) GetContainerLogs(ctx context.Context, namespace, podName, containerName string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	cname := podmanContainer(namespace, podName, containerName)
	if _, err := p.podman.run(ctx, "container", "exists", cname); err != nil {
		return nil, errdefs.NotFoundf("container %s in pod %s/%s has no podman container (yet)", containerName, namespace, podName)
	}
	if opts.Previous {
		return nil, errdefs.NotFoundf("previous terminated container %q in pod %q not found", containerName, podName)
	}
	args := []string{"logs"}
	if opts.Tail > 0 {
		args = append(args, "--tail", strconv.Itoa(opts.Tail))
	}
	if opts.Timestamps {
		args = append(args, "--timestamps")
	}
	switch {
	case opts.SinceSeconds > 0:
		args = append(args, "--since", strconv.Itoa(opts.SinceSeconds)+"s")
	case !opts.SinceTime.IsZero():
		args = append(args, "--since", opts.SinceTime.Format(time.RFC3339))
	}
	if opts.Follow {
		args = append(args, "--follow")
	}
	args = append(args, cname)
	c := exec.CommandContext(ctx, p.podman.Bin, args...)
	pr, pw := io.Pipe()
	c.Stdout, c.Stderr = pw, pw
	if err := c.Start(); err != nil {
		return nil, err
	}
	go func() { pw.CloseWithError(c.Wait()) }()
	var r io.Reader = pr
	if opts.LimitBytes > 0 {
		r = io.LimitReader(pr, int64(opts.LimitBytes))
	}
	return &logStream{Reader: r, pr: pr, cmd: c}, nil
}

type logStream struct {
	io.Reader
	pr  *io.PipeReader
	cmd *exec.Cmd
}

func (l *logStream) Close() error {
	_ = l.cmd.Process.Kill()
	return l.pr.Close()
}
