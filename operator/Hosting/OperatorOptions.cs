using System.ComponentModel.DataAnnotations;

namespace Tollgate.Operator.Hosting;

/// <summary>Settings of the operator's controllers and leader election.</summary>
public sealed class OperatorOptions
{
    public const string Section = "Operator";

    /// <summary>The operator's own namespace: its Lease and PrometheusRules live there, and its AiRoutingRules apply everywhere. Default <c>tollgate-system</c>.</summary>
    [Required]
    public string Namespace { get; set; } = "tollgate-system";

    /// <summary>This replica's name in the Lease; default the pod name (<c>POD_NAME</c>) or the machine name.</summary>
    [Required]
    public string Identity { get; set; } = Environment.GetEnvironmentVariable("POD_NAME") ?? Environment.MachineName;

    /// <summary>How often AiBudget status is refreshed from the ledger. Default 30 s.</summary>
    public TimeSpan StatusRefreshInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often the key-custody admission objects are checked even when nothing announced a change (someone edited or
    /// deleted the policy or binding by hand; a cluster upgraded to a version that serves the API). Default 5 min.
    /// </summary>
    public TimeSpan AdmissionResyncInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How often the CA ConfigMap in the operator's namespace is compared with the webhook certificate Secret even when
    /// this replica saw no renewal (another replica renewed). Default 5 min.
    /// </summary>
    public TimeSpan CaResyncInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>False runs the controllers without a Lease (one replica, or tests). Default true.</summary>
    public bool LeaderElection { get; set; } = true;

    /// <summary>Where the Lease lives; default (empty) the operator's <see cref="Namespace"/>.</summary>
    public string? LeaseNamespace { get; set; }

    /// <summary>The Lease's name. Default <c>tollgate-operator</c>.</summary>
    [Required]
    public string LeaseName { get; set; } = "tollgate-operator";

    /// <summary>How long a leader's claim is valid without renewal. Default 15 s.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long the leader keeps trying to renew before it gives up leading. Default 10 s.</summary>
    public TimeSpan RenewDeadline { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often candidates try to acquire or renew. Default 2 s.</summary>
    public TimeSpan RetryPeriod { get; set; } = TimeSpan.FromSeconds(2);
}
