using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Tollgate.Operator.Webhooks;

/// <summary>
/// Whether a meter container and its volumes already in a pod are the ones the webhook would inject. The API server
/// defaults fields after mutation (<c>terminationMessagePath</c>, probe thresholds, <c>fieldRef.apiVersion</c>,
/// <c>defaultMode</c>), so the comparison covers what decides what the container runs and can read, with those
/// defaults filled in on both sides, rather than the whole object.
/// </summary>
internal static class SidecarMatcher
{
    // Everything that changes the process (image, command, args, env, working directory, hooks) or what it can read
    // (mounts, security context). Probes only for exec, which runs a command inside the meter.
    private static readonly string[] ComparedFields =
        ["image", "command", "args", "workingDir", "env", "envFrom", "volumeMounts", "volumeDevices", "securityContext", "lifecycle", "restartPolicy"];

    private static readonly string[] Probes = ["startupProbe", "readinessProbe", "livenessProbe"];

    public static bool SameContainer(V1Container actual, V1Container desired)
    {
        var a = Normalised(actual);
        var d = Normalised(desired);
        return ComparedFields.All(f => JsonNode.DeepEquals(a[f], d[f]))
            && Probes.All(p => JsonNode.DeepEquals(a[p]?["exec"], d[p]?["exec"]));
    }

    public static bool SameVolumes(IEnumerable<V1Volume> actual, IEnumerable<V1Volume> desired)
    {
        var a = actual.Select(Normalised).OrderBy(v => (string?)v["name"], StringComparer.Ordinal).ToList();
        var d = desired.Select(Normalised).OrderBy(v => (string?)v["name"], StringComparer.Ordinal).ToList();
        return a.Count == d.Count && a.Zip(d).All(pair => JsonNode.DeepEquals(pair.First, pair.Second));
    }

    private static JsonObject Normalised(V1Container container)
    {
        var node = JsonNode.Parse(KubernetesJson.Serialize(container))!.AsObject();
        foreach (var variable in node["env"]?.AsArray() ?? [])
        {
            if (variable?["valueFrom"]?["fieldRef"] is JsonObject fieldRef && fieldRef["apiVersion"] is null)
            {
                fieldRef["apiVersion"] = "v1";
            }
        }

        foreach (var mount in node["volumeMounts"]?.AsArray() ?? [])
        {
            if (mount is JsonObject m && m["readOnly"] is JsonValue readOnly && !(bool)readOnly)
            {
                m.Remove("readOnly");
            }
        }

        return node;
    }

    private static JsonObject Normalised(V1Volume volume)
    {
        var node = JsonNode.Parse(KubernetesJson.Serialize(volume))!.AsObject();
        foreach (var source in new[] { "secret", "configMap", "projected" })
        {
            if (node[source] is JsonObject s && s["defaultMode"] is JsonValue mode && (int)mode == 420)
            {
                s.Remove("defaultMode");
            }
        }

        return node;
    }
}
