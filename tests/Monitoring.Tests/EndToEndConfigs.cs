using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Tollgate.Monitoring.Tests;

/// <summary>
/// The configuration files the end-to-end test gives Prometheus and Alertmanager: the repository's own files with only
/// what a test cannot use swapped out, so what is tested is what operators deploy.
/// </summary>
internal static class EndToEndConfigs
{
    // What Alertmanager sends when a config does not say (notify/*: DefaultXConfig.NotifierConfig.VSendResolved).
    private static readonly Dictionary<string, bool> SendResolvedDefaults = new(StringComparer.Ordinal)
    {
        ["webhook"] = true, ["email"] = false, ["slack"] = false, ["pagerduty"] = true, ["opsgenie"] = true, ["wechat"] = false,
        ["victorops"] = true, ["pushover"] = true, ["sns"] = true, ["telegram"] = true, ["discord"] = true, ["webex"] = true, ["msteams"] = true,
    };

    /// <summary>
    /// config/alertmanager/alertmanager.yaml with every integration of every receiver (Slack, mail, webhook) replaced
    /// by a webhook to <paramref name="urlFor"/>(<c>receiver/kind-index</c>) with the same <c>send_resolved</c>, and
    /// every <c>group_wait</c> / <c>group_interval</c> of the route tree shortened. Grouping, matchers, routes,
    /// repeat intervals and inhibit rules stay as written.
    /// </summary>
    /// <returns>The YAML, and the integration names of each receiver.</returns>
    public static (string Yaml, IReadOnlyDictionary<string, IReadOnlyList<string>> Integrations) Alertmanager(
        string sourcePath, Func<string, Uri> urlFor, TimeSpan groupWait, TimeSpan groupInterval)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(sourcePath)));
        var root = (YamlMappingNode)stream.Documents[0].RootNode;

        var integrations = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var receiver in root.Required("receivers").Items().Cast<YamlMappingNode>())
        {
            var name = receiver.Required("name").Text()!;
            var hooks = new YamlSequenceNode();
            var names = new List<string>();
            foreach (var key in receiver.Keys().Where(k => k.EndsWith("_configs", StringComparison.Ordinal)).ToList())
            {
                var kind = key[..^"_configs".Length];
                var configs = receiver.Required(key).Items();
                for (var i = 0; i < configs.Count; i++)
                {
                    var sendResolved = configs[i].Get("send_resolved").Text() is { } text
                        ? bool.Parse(text)
                        : SendResolvedDefaults.TryGetValue(kind, out var byDefault) ? byDefault : throw new NotSupportedException($"receiver {name}: unknown integration {key}");
                    var integration = string.Create(CultureInfo.InvariantCulture, $"{name}/{kind}-{i}");
                    names.Add(integration);
                    hooks.Add(new YamlMappingNode(
                        new YamlScalarNode("url"), new YamlScalarNode(urlFor(integration).ToString()),
                        new YamlScalarNode("send_resolved"), new YamlScalarNode(sendResolved ? "true" : "false")));
                }

                Remove(receiver, key);
            }

            if (hooks.Children.Count > 0)
            {
                Set(receiver, "webhook_configs", hooks);
            }

            integrations[name] = names;
        }

        var route = (YamlMappingNode)root.Required("route");
        Set(route, "group_wait", Duration(groupWait));
        Set(route, "group_interval", Duration(groupInterval));
        ShortenTimers(route, groupWait, groupInterval);
        return (Save(stream), integrations);
    }

    /// <summary>
    /// config/prometheus/tollgate-rules.yaml with the groups' own <c>interval</c>s removed, so every rule is evaluated
    /// at the test's evaluation interval (the recording groups run every 1 m and 5 m, and Prometheus staggers a group's
    /// first evaluation by up to one interval: a 5 m group would first run after the test is over).
    /// </summary>
    public static string Rules(string sourcePath)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(sourcePath)));
        foreach (var group in stream.Documents[0].RootNode.Required("groups").Items().Cast<YamlMappingNode>())
        {
            Remove(group, "interval");
        }

        return Save(stream);
    }

    /// <summary>A Prometheus configuration scraping the meter and the exporter every second and alerting to one Alertmanager.</summary>
    public static string Prometheus(string rulesFile, Uri meterAdmin, Uri exporter, Uri alertmanager) =>
        $"""
        global:
          scrape_interval: 1s
          scrape_timeout: 1s
          evaluation_interval: 1s
        rule_files:
          - "{rulesFile}"
        alerting:
          alertmanagers:
            - static_configs:
                - targets: ["{alertmanager.Authority}"]
        scrape_configs:
          - job_name: tollgate-meter
            static_configs:
              - targets: ["{meterAdmin.Authority}"]
          - job_name: tollgate-exporter
            static_configs:
              - targets: ["{exporter.Authority}"]
        """;

    private static void ShortenTimers(YamlMappingNode route, TimeSpan groupWait, TimeSpan groupInterval)
    {
        foreach (var child in route.Get("routes").Items().Cast<YamlMappingNode>())
        {
            if (child.Get("group_wait") is not null)
            {
                Set(child, "group_wait", Duration(groupWait));
            }

            if (child.Get("group_interval") is not null)
            {
                Set(child, "group_interval", Duration(groupInterval));
            }

            ShortenTimers(child, groupWait, groupInterval);
        }
    }

    private static YamlScalarNode Duration(TimeSpan span) =>
        new(string.Create(CultureInfo.InvariantCulture, $"{(long)span.TotalMilliseconds}ms"));

    private static void Set(YamlMappingNode mapping, string key, YamlNode value)
    {
        var existing = mapping.Children.Keys.FirstOrDefault(k => k is YamlScalarNode scalar && scalar.Value == key);
        if (existing is null)
        {
            mapping.Children.Add(new YamlScalarNode(key), value);
        }
        else
        {
            mapping.Children[existing] = value;
        }
    }

    private static void Remove(YamlMappingNode mapping, string key)
    {
        var existing = mapping.Children.Keys.FirstOrDefault(k => k is YamlScalarNode scalar && scalar.Value == key);
        if (existing is not null)
        {
            mapping.Children.Remove(existing);
        }
    }

    private static string Save(YamlStream stream)
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        stream.Save(writer, assignAnchors: false);
        return writer.ToString();
    }
}
