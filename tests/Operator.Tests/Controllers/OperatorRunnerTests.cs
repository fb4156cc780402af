using Microsoft.Extensions.Configuration;
using Tollgate.Operator.Hosting;

namespace Tollgate.Operator.Tests.Controllers;

public sealed class OperatorRunnerTests
{
    [Fact]
    public void Settings_are_read_from_the_Tollgate_environment_variable_names_of_the_manager_Deployment()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Tollgate:Operator:Namespace"] = "tollgate-ops",
            ["Tollgate:Operator:StatusRefreshInterval"] = "00:00:10",
            ["Tollgate:LeaderElection:Enabled"] = "false",
            ["Tollgate:LeaderElection:LeaseName"] = "my-lease",
            ["Tollgate:LeaderElection:LeaseNamespace"] = "leases",
            ["Tollgate:LeaderElection:Identity"] = "pod-7",
            ["Tollgate:LeaderElection:LeaseDuration"] = "00:00:20",
        }).Build();

        var options = OperatorRunner.ReadOptions(configuration);

        Assert.Equal("tollgate-ops", options.Namespace);
        Assert.Equal(TimeSpan.FromSeconds(10), options.StatusRefreshInterval);
        Assert.False(options.LeaderElection);
        Assert.Equal("my-lease", options.LeaseName);
        Assert.Equal("leases", options.LeaseNamespace);
        Assert.Equal("pod-7", options.Identity);
        Assert.Equal(TimeSpan.FromSeconds(20), options.LeaseDuration);
        Assert.Equal(TimeSpan.FromSeconds(10), options.RenewDeadline);
    }
}
