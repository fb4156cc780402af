using YamlDotNet.RepresentationModel;

namespace Tollgate.Monitoring.Tests;

/// <summary>One rule of a Prometheus rule file, alerting or recording.</summary>
internal sealed record Rule(string Group, string? Alert, string? Record, string Expr, YamlNode Node)
{
    public string Name => Alert ?? Record ?? string.Empty;

    public string? Label(string name) => Node.Get("labels").Get(name).Text();

    public string? Annotation(string name) => Node.Get("annotations").Get(name).Text();
}

/// <summary>The rules of <c>config/prometheus/tollgate-rules.yaml</c>.</summary>
internal static class RuleFile
{
    public static IReadOnlyList<Rule> Load(string path)
    {
        var rules = new List<Rule>();
        foreach (var group in Yaml.LoadFile(path).Required("groups").Items())
        {
            var groupName = group.Required("name").Text() ?? string.Empty;
            foreach (var rule in group.Required("rules").Items())
            {
                rules.Add(new Rule(groupName, rule.Get("alert").Text(), rule.Get("record").Text(), rule.Required("expr").Text() ?? string.Empty, rule));
            }
        }

        return rules;
    }

    public static IReadOnlyList<Rule> Rules => Load(MonitoringPaths.RulesFile);

    public static IReadOnlySet<string> RecordingNames =>
        new HashSet<string>(Rules.Where(r => r.Record is not null).Select(r => r.Record!), StringComparer.Ordinal);
}
