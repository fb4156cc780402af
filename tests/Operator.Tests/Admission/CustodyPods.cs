using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.Tests.Admission;

/// <summary>One probe of a pod author against key custody: the pod as written, and what the denial must say.</summary>
/// <param name="Webhook">A fragment of the webhook's denial message.</param>
/// <param name="Policy">
/// The message of the admission policy's validation that refuses the pod after the webhook of old (no checks,
/// skip on opt-out or a meter-named container) mutated it; null where the API server's own pod validation refuses it.
/// </param>
public sealed record CustodyAttack(string Name, string Yaml, string Webhook, string? Policy)
{
    public override string ToString() => Name;
}

/// <summary>The probes of issue 14, and pods that must keep working: the catalogue both the webhook and the policy are tested on.</summary>
internal static class CustodyPods
{
    public const string RouteSecret = "team-anthropic-key";

    /// <summary>ci-payments, metered, with one routing rule whose target takes its key from <see cref="RouteSecret"/>.</summary>
    public static NamespaceInfo Namespace { get; } = new("ci-payments", new Dictionary<string, string>
    {
        ["kubernetes.io/metadata.name"] = "ci-payments",
        ["tollgate.io/meter"] = "enabled",
        ["cost-center"] = "cc-4711",
    })
    {
        RouteSecrets = [RouteSecret],
    };

    private static string Pod(string name, string spec, string annotations = "{}") => $$"""
        apiVersion: v1
        kind: Pod
        metadata:
          name: {{name}}
          namespace: ci-payments
          labels: { tollgate.io/team: payments }
          annotations: {{annotations}}
        spec:
          restartPolicy: Never
          {{Indent(spec, 2)}}
        """;

    private static string Indent(string text, int spaces) =>
        string.Join("\n", text.Split('\n').Select((line, i) => i == 0 ? line : new string(' ', spaces) + line));

    public static IReadOnlyList<CustodyAttack> Attacks { get; } =
    [
        new("mounts the provider keys volume without declaring it", Pod("a1", """
            containers:
              - name: job
                image: busybox:1.36
                volumeMounts: [{ name: tollgate-provider-keys, mountPath: /keys }]
            """), "container job mounts volume tollgate-provider-keys, which belongs to the meter", "MeterVolumes"),
        new("mounts the policy volume from an init container", Pod("a2", """
            initContainers:
              - name: setup
                image: busybox:1.36
                volumeMounts: [{ name: tollgate-policy, mountPath: /policy }]
            containers: [{ name: job, image: busybox:1.36 }]
            """), "init container setup mounts volume tollgate-policy, which belongs to the meter", "MeterVolumes"),
        new("mounts a volume the pod does not declare", Pod("a3", """
            containers:
              - name: job
                image: busybox:1.36
                volumeMounts: [{ name: cache, mountPath: /cache }]
            """), "container job mounts volume cache, which the pod does not declare", null),
        new("declares its own secret volume of the provider Secret", Pod("a4", """
            containers:
              - name: job
                image: busybox:1.36
                volumeMounts: [{ name: keys, mountPath: /keys }]
            volumes: [{ name: keys, secret: { secretName: tollgate-provider-keys } }]
            """), "volume keys mounts Secret tollgate-provider-keys", "KeyVolumes"),
        new("projects the routing rule's key Secret", Pod("a5", """
            containers:
              - name: job
                image: busybox:1.36
                volumeMounts: [{ name: creds, mountPath: /creds }]
            volumes:
              - name: creds
                projected:
                  sources:
                    - configMap: { name: settings }
                    - secret: { name: team-anthropic-key }
            """), "volume creds projects Secret team-anthropic-key", "KeyVolumes"),
        new("reads a provider key with secretKeyRef", Pod("a6", """
            containers:
              - name: job
                image: busybox:1.36
                env:
                  - name: ANTHROPIC_API_KEY
                    valueFrom: { secretKeyRef: { name: tollgate-provider-keys, key: anthropic } }
            """), "container job: env ANTHROPIC_API_KEY reads Secret tollgate-provider-keys", "KeyEnv"),
        new("reads the routing rule's key Secret with envFrom", Pod("a7", """
            containers:
              - name: job
                image: busybox:1.36
                envFrom: [{ secretRef: { name: team-anthropic-key } }]
            """), "container job: envFrom reads Secret team-anthropic-key", "KeyEnv"),
        new("opts out with inject false in upper case and keeps a key", Pod("a8", """
            containers:
              - name: job
                image: busybox:1.36
                env:
                  - name: OPENAI_API_KEY
                    valueFrom: { secretKeyRef: { name: tollgate-provider-keys, key: openai } }
            """, "{ tollgate.io/inject: \"FALSE\" }"), "env OPENAI_API_KEY reads Secret tollgate-provider-keys", "Metered"),
        new("opts out with inject false padded with space", Pod("a9", """
            containers: [{ name: job, image: busybox:1.36 }]
            """, "{ tollgate.io/inject: \" False \" }"), "opts out of the meter, which namespace ci-payments does not allow", "Metered"),
        new("brings its own container named tollgate-meter", Pod("a10", """
            containers:
              - name: job
                image: busybox:1.36
              - name: tollgate-meter
                image: busybox:1.36
                command: ["sh", "-c", "sleep 3600"]
            """), "container tollgate-meter: the name is reserved for the meter", "Metered"),
        new("runs the meter image with its own command as tollgate-meter", Pod("a11", """
            initContainers:
              - name: tollgate-meter
                image: registry.example.com/tollgate/meter:1.0.0
                restartPolicy: Always
                command: ["sh", "-c", "cat /etc/tollgate/secrets/*/*"]
                volumeMounts: [{ name: tollgate-provider-keys, mountPath: /etc/tollgate/secrets/tollgate-provider-keys }]
            containers: [{ name: job, image: busybox:1.36 }]
            volumes: [{ name: tollgate-provider-keys, secret: { secretName: tollgate-provider-keys } }]
            """), "container tollgate-meter: the name is reserved for the meter", "MeterProcess"),
        new("asks for hostNetwork", Pod("a12", """
            hostNetwork: true
            containers: [{ name: job, image: busybox:1.36 }]
            """), "hostNetwork: true is not allowed", "HostNamespaces"),
        new("asks for hostPID", Pod("a13", """
            hostPID: true
            containers: [{ name: job, image: busybox:1.36 }]
            """), "hostPID: true is not allowed", "HostNamespaces"),
        new("shares the process namespace with the meter", Pod("a14", """
            shareProcessNamespace: true
            containers:
              - name: job
                image: busybox:1.36
                securityContext: { runAsUser: 1654 }
            """), "shareProcessNamespace: true is not allowed", "HostNamespaces"),
        new("declares its own volume named tollgate-policy", Pod("a15", """
            containers:
              - name: job
                image: busybox:1.36
                volumeMounts: [{ name: tollgate-policy, mountPath: /policy }]
            volumes: [{ name: tollgate-policy, configMap: { name: my-policy } }]
            """), "volume tollgate-policy: names starting with \"tollgate-\" are reserved", null),
        new("declares its own service account token for the meter's audience", Pod("a18", """
            containers:
              - name: job
                image: busybox:1.36
                volumeMounts: [{ name: id, mountPath: /id }]
            volumes:
              - name: id
                projected:
                  sources: [{ serviceAccountToken: { audience: tollgate.io/meter, expirationSeconds: 600, path: token } }]
            """), "volume id projects a service account token for audience tollgate.io/meter, which only the meter may hold", "MeterToken"),
        new("passes a control character in an identity annotation", Pod("a16", """
            containers: [{ name: job, image: busybox:1.36 }]
            """, "{ tollgate.io/repo: \"acme/x\\n--ledger\" }"), "annotation tollgate.io/repo: the value has control or line-separator characters", null),
        new("passes an oversized identity annotation", Pod("a17", """
            containers: [{ name: job, image: busybox:1.36 }]
            """, $"{{ tollgate.io/repo: \"{new string('r', 300)}\" }}"), "annotation tollgate.io/repo: the value is 300 characters long", null),
    ];

    /// <summary>Pods that must be admitted and metered (or, where allowed, opted out) unchanged in what they can do.</summary>
    public static IReadOnlyDictionary<string, string> Legitimate { get; } = new Dictionary<string, string>
    {
        ["job pod"] = Tollgate.Operator.Tests.Webhooks.PodManifests.JobPod,
        ["pod with init containers"] = Tollgate.Operator.Tests.Webhooks.PodManifests.PodWithInitContainers,
        ["pod with its own non-key secrets"] = Pod("own-secrets", """
            containers:
              - name: job
                image: node:22
                env:
                  - name: NPM_TOKEN
                    valueFrom: { secretKeyRef: { name: npm-token, key: token } }
                envFrom: [{ secretRef: { name: test-database } }]
                volumeMounts: [{ name: ssh, mountPath: /root/.ssh, readOnly: true }]
            volumes:
              - name: ssh
                projected:
                  sources: [{ secret: { name: deploy-key } }, { serviceAccountToken: { path: token, audience: git } }]
            """),
        // The shape of a Tekton TaskRun pod: an init container that copies the entrypoint binary, step containers
        // that wait on downward-API files, shared emptyDirs, a credentials Secret volume.
        ["tekton taskrun pod"] = """
            apiVersion: v1
            kind: Pod
            metadata:
              generateName: review-run-
              namespace: ci-payments
              labels:
                app.kubernetes.io/managed-by: tekton-pipelines
                tekton.dev/taskRun: review-run
                tollgate.io/team: payments
              annotations:
                tekton.dev/ready: ""
                pipeline.tekton.dev/release: v0.62.0
            spec:
              restartPolicy: Never
              initContainers:
                - name: prepare
                  image: ghcr.io/tektoncd/pipeline/entrypoint:v0.62.0
                  command: ["/ko-app/entrypoint", "init", "/ko-app/entrypoint", "/tekton/bin/entrypoint", "step-review"]
                  volumeMounts:
                    - { name: tekton-internal-bin, mountPath: /tekton/bin }
                    - { name: tekton-internal-steps, mountPath: /tekton/steps }
              containers:
                - name: step-review
                  image: ghcr.io/acme/claude-code-runner:2.1
                  command: ["/tekton/bin/entrypoint"]
                  args: ["-wait_file", "/tekton/downward/ready", "-post_file", "/tekton/run/0/out", "--", "claude", "-p", "review"]
                  env:
                    - name: HOME
                      value: /tekton/home
                  volumeMounts:
                    - { name: tekton-internal-bin, mountPath: /tekton/bin, readOnly: true }
                    - { name: tekton-internal-downward, mountPath: /tekton/downward, readOnly: true }
                    - { name: tekton-internal-run-0, mountPath: /tekton/run/0 }
                    - { name: tekton-internal-workspace, mountPath: /workspace }
                    - { name: tekton-internal-home, mountPath: /tekton/home }
                    - { name: tekton-internal-secret-volume-git-creds, mountPath: /tekton/creds-secrets/git-creds }
              volumes:
                - { name: tekton-internal-bin, emptyDir: {} }
                - { name: tekton-internal-steps, emptyDir: {} }
                - { name: tekton-internal-run-0, emptyDir: {} }
                - { name: tekton-internal-workspace, emptyDir: {} }
                - { name: tekton-internal-home, emptyDir: {} }
                - name: tekton-internal-downward
                  downwardAPI:
                    items: [{ path: ready, fieldRef: { fieldPath: "metadata.annotations['tekton.dev/ready']" } }]
                - name: tekton-internal-secret-volume-git-creds
                  secret: { secretName: git-creds }
            """,
        // The shape of a GitLab Runner Kubernetes-executor pod: an init container fixing permissions, the build and
        // helper containers sharing the repo, a scripts ConfigMap and a logs emptyDir.
        ["gitlab runner pod"] = """
            apiVersion: v1
            kind: Pod
            metadata:
              generateName: runner-abc123-project-42-concurrent-0-
              namespace: ci-payments
              labels:
                pod: runner-abc123-project-42-concurrent-0
                job.runner.gitlab.com/id: "9001"
                tollgate.io/team: payments
              annotations:
                job.runner.gitlab.com/url: https://gitlab.example.com/acme/checkout/-/jobs/9001
                tollgate.io/repo: acme/checkout
            spec:
              restartPolicy: Never
              initContainers:
                - name: init-permissions
                  image: registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v17.5.0
                  command: ["sh", "-c", "touch /logs-9001/output.log && chmod 777 /logs-9001/output.log"]
                  volumeMounts: [{ name: logs, mountPath: /logs-9001 }]
              containers:
                - name: build
                  image: ghcr.io/acme/claude-code-runner:2.1
                  command: ["sh", "-c", "if [ -x /usr/local/bin/bash ]; then exec /usr/local/bin/bash; else exec sh; fi"]
                  stdin: true
                  env:
                    - { name: CI_PROJECT_DIR, value: /builds/acme/checkout }
                    - { name: CI_JOB_TOKEN, value: redacted }
                  volumeMounts:
                    - { name: repo, mountPath: /builds }
                    - { name: scripts, mountPath: /scripts-42-9001 }
                    - { name: logs, mountPath: /logs-42-9001 }
                - name: helper
                  image: registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v17.5.0
                  command: ["sh", "-c", "if [ -x /usr/local/bin/bash ]; then exec /usr/local/bin/bash; else exec sh; fi"]
                  stdin: true
                  volumeMounts:
                    - { name: repo, mountPath: /builds }
                    - { name: scripts, mountPath: /scripts-42-9001 }
                    - { name: logs, mountPath: /logs-42-9001 }
              imagePullSecrets: [{ name: registry-credentials }]
              volumes:
                - { name: repo, emptyDir: {} }
                - name: scripts
                  configMap: { name: runner-abc123-project-42-concurrent-0-scripts, defaultMode: 511 }
                - { name: logs, emptyDir: {} }
            """,
    };
}
