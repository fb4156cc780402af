namespace Tollgate.Core.Tagging;

/// <summary>
/// The tag keys Tollgate itself reads, in one place: the meter requires and labels them, budgets scope by them, the
/// exporter and the OpenCost source group by them, and the operator fills them from a pod's identity. Any other key a
/// request sends is carried on its usage event but never becomes a label.
/// </summary>
public static class TagKeys
{
    public const string Team = "team";
    public const string Repo = "repo";
    public const string Pipeline = "pipeline";
    public const string AgentStep = "agent_step";
    public const string User = "user";

    /// <summary>The prefix by which a budget scope or message names any tag (<c>metadata.team</c>).</summary>
    public const string MetadataPrefix = "metadata.";

    /// <summary>The tags that are metric labels, in the order the label sets list them.</summary>
    public static readonly IReadOnlyList<string> Labelled = [Team, Repo, Pipeline, AgentStep];

    /// <summary>What <c>--required-tags</c> defaults to.</summary>
    public static readonly IReadOnlyList<string> RequiredByDefault = [Team, Repo, Pipeline];
}
