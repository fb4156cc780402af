using k8s;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Tollgate.Core.Api.V1Alpha1;
using Tollgate.Core.Ledger;
using Tollgate.Operator.Controllers;
using Tollgate.Operator.LedgerWiring;
using Tollgate.Operator.Runtime;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.Hosting;

/// <summary>
/// Wires the informers, work queues and controllers. Informers run on every replica (the webhook's namespace lookup
/// reads their cache); the reconcile loops run only while this replica holds the Lease, and each new term re-enqueues
/// every known object so nothing that changed under the previous leader is missed.
/// </summary>
public sealed class OperatorHost : IAsyncDisposable
{
    private readonly IKubernetes _client;
    private readonly OperatorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Informer<V1Namespace> _namespaces;
    private readonly Informer<AiBudget> _budgets;
    private readonly Informer<AiRoutingRule> _rules;
    private readonly Informer<V1ConfigMap> _admissionParameters;
    private readonly Informer<V1ConfigMap> _exporterPolicy;
    private readonly List<(ControllerLoop Loop, WorkQueue Queue, Func<IEnumerable<string>> Keys)> _controllers = [];
    private readonly CaConfigMapController _ca;
    private readonly Lock _gate = new();
    private CancellationTokenSource? _stop;
    private CancellationTokenSource? _term;
    private List<Task> _termTasks = [];
    private Task? _election;
    private int _leading;
    private int _stopped;

    /// <param name="sidecar">How the webhook injects the meter; the admission policy's parameters must say the same.</param>
    /// <param name="webhookSecretName">The Secret, in the operator's namespace, whose CA is published as the CA ConfigMap.</param>
    /// <param name="ledgerWiring">The shipped Redis' certificate, users and ACL file; null or disabled leaves them alone.</param>
    public OperatorHost(
        IKubernetes client,
        IBudgetLedger ledger,
        OperatorOptions options,
        TimeProvider time,
        ILoggerFactory loggerFactory,
        SidecarOptions? sidecar = null,
        string? webhookSecretName = null,
        LedgerWiringOptions? ledgerWiring = null)
    {
        _client = client;
        _options = options;
        _time = time;
        _logger = loggerFactory.CreateLogger<OperatorHost>();
        _namespaces = new Informer<V1Namespace>(new NamespaceSource(client), time, loggerFactory.CreateLogger("Tollgate.Operator.Informer.Namespace"));
        _budgets = new Informer<AiBudget>(new CustomResourceSource<AiBudget>(client, AiBudget.Plural, namespaced: false), time, loggerFactory.CreateLogger("Tollgate.Operator.Informer.AiBudget"));
        _rules = new Informer<AiRoutingRule>(new CustomResourceSource<AiRoutingRule>(client, AiRoutingRule.Plural, namespaced: true), time, loggerFactory.CreateLogger("Tollgate.Operator.Informer.AiRoutingRule"));
        _admissionParameters = new Informer<V1ConfigMap>(
            new NamedConfigMapSource(client, options.Namespace, AdmissionPolicy.ParamsName), time, loggerFactory.CreateLogger("Tollgate.Operator.Informer.AdmissionParameters"));
        _exporterPolicy = new Informer<V1ConfigMap>(
            new NamedConfigMapSource(client, options.Namespace, ExporterPolicyController.ConfigMapName), time, loggerFactory.CreateLogger("Tollgate.Operator.Informer.ExporterPolicy"));
        NamespaceLookup = new NamespaceCache(_namespaces, _rules, options.Namespace);

        var renderer = new PolicyRenderer();
        var policy = new NamespacePolicyController(client, _namespaces, _budgets, _rules, renderer, options.Namespace, loggerFactory.CreateLogger<NamespacePolicyController>());
        var policyQueue = new WorkQueue(time);
        policy.Watch(policyQueue);
        _controllers.Add((new ControllerLoop(policy, policyQueue, _logger), policyQueue, () => _namespaces.List().Select(n => n.Metadata.Name)));

        // Like every loop, it starts only once the budgets are listed: a pass before that would publish an empty policy.
        var exporterPolicy = new ExporterPolicyController(client, _budgets, _exporterPolicy, renderer, options.Namespace, loggerFactory.CreateLogger<ExporterPolicyController>());
        var exporterPolicyQueue = new WorkQueue(time);
        exporterPolicy.Watch(exporterPolicyQueue);
        _controllers.Add((new ControllerLoop(exporterPolicy, exporterPolicyQueue, _logger), exporterPolicyQueue, () => [ExporterPolicyController.Key]));

        var budgetController = new AiBudgetController(client, _budgets, ledger, options, time, loggerFactory.CreateLogger<AiBudgetController>());
        var budgetQueue = new WorkQueue(time);
        budgetController.Watch(budgetQueue);
        _controllers.Add((new ControllerLoop(budgetController, budgetQueue, _logger), budgetQueue, () => _budgets.List().Select(Informer<AiBudget>.KeyOf)));

        var ruleController = new AiRoutingRuleController(client, _rules, time, loggerFactory.CreateLogger<AiRoutingRuleController>());
        var ruleQueue = new WorkQueue(time);
        ruleController.Watch(ruleQueue);
        _controllers.Add((new ControllerLoop(ruleController, ruleQueue, _logger), ruleQueue, () => _rules.List().Select(Informer<AiRoutingRule>.KeyOf)));

        // The rules' key Secrets go into the parameters, so this waits for Synced like the others: a pass before the
        // rules are listed would drop every route Secret from the parameters for a moment.
        var admission = new AdmissionPolicyController(
            client, _namespaces, _rules, _admissionParameters, sidecar ?? new SidecarOptions(), options.Namespace, options.AdmissionResyncInterval,
            loggerFactory.CreateLogger<AdmissionPolicyController>());
        var admissionQueue = new WorkQueue(time);
        admission.Watch(admissionQueue);
        _controllers.Add((new ControllerLoop(admission, admissionQueue, _logger), admissionQueue, () => [AdmissionPolicyController.Key]));

        _ca = new CaConfigMapController(
            client, _namespaces, options.Namespace, webhookSecretName ?? new WebhookTlsOptions().SecretName, (sidecar ?? new SidecarOptions()).CaConfigMapName,
            options.CaResyncInterval, loggerFactory.CreateLogger<CaConfigMapController>());
        var caQueue = new WorkQueue(time);
        _ca.Watch(caQueue);
        _controllers.Add((new ControllerLoop(_ca, caQueue, _logger), caQueue, () => _namespaces.List().Select(n => n.Metadata.Name).Append(options.Namespace).Distinct()));

        if (ledgerWiring is { Enabled: true })
        {
            // Nothing to watch (the operator may only get these Secrets): each pass asks for the next one.
            var ledgerNamespace = string.IsNullOrEmpty(ledgerWiring.Namespace) ? options.Namespace : ledgerWiring.Namespace;
            var credentials = new LedgerCredentialsController(client, ledgerWiring, ledgerNamespace, loggerFactory.CreateLogger<LedgerCredentialsController>());
            var credentialsQueue = new WorkQueue(time);
            _controllers.Add((new ControllerLoop(credentials, credentialsQueue, _logger), credentialsQueue, () => [LedgerCredentialsController.Key]));

            var tls = new LedgerTlsController(client, ledgerWiring, ledgerNamespace, time, loggerFactory.CreateLogger<LedgerTlsController>());
            var tlsQueue = new WorkQueue(time);
            _controllers.Add((new ControllerLoop(tls, tlsQueue, _logger), tlsQueue, () => [LedgerTlsController.Key]));
        }
    }

    /// <summary>
    /// Tells the CA publisher that the certificate this replica serves changed (the rotator loaded a renewal), so every
    /// namespace's CA ConfigMap is compared with the Secret again (by the leader: a standby's queue waits for its term).
    /// </summary>
    public void RepublishCa() => _ca.Republish();

    /// <summary>The webhook's view of namespaces, served from this replica's cache.</summary>
    public INamespaceLookup NamespaceLookup { get; }

    /// <summary>True while this replica's controllers run.</summary>
    public bool IsLeading => Volatile.Read(ref _leading) == 1;

    /// <summary>Reconciles this replica has run, over all controllers and terms.</summary>
    public int Reconciles => _controllers.Sum(c => c.Loop.Reconciles);

    /// <summary>Completes once every informer has listed.</summary>
    public Task Synced => Task.WhenAll(_namespaces.Synced, _budgets.Synced, _rules.Synced);

    /// <summary>Starts the informers and, with leader election, the campaign for the Lease; returns at once.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var token = _stop.Token;
        _namespaces.Start(token);
        _budgets.Start(token);
        _rules.Start(token);
        _admissionParameters.Start(token);
        _exporterPolicy.Start(token);
        if (!_options.LeaderElection)
        {
            StartTerm();
            return Task.CompletedTask;
        }

        var elector = new LeaderElector(new LeaderElectionConfig(new LeaseLock(_client, string.IsNullOrEmpty(_options.LeaseNamespace) ? _options.Namespace : _options.LeaseNamespace, _options.LeaseName, _options.Identity))
        {
            LeaseDuration = _options.LeaseDuration,
            RenewDeadline = _options.RenewDeadline,
            RetryPeriod = _options.RetryPeriod,
        });
        elector.OnStartedLeading += StartTerm;
        elector.OnStoppedLeading += StopTerm;
        elector.OnError += e => OperatorLog.LeaderElectionFailed(_logger, e);

        // The elector's loop would otherwise run on the caller until its first await (see dotnet/runtime#36063 for hosts).
        _election = Task.Run(
            async () =>
            {
                try
                {
                    await elector.RunAndTryToHoldLeadershipForeverAsync(token);
                }
                catch (OperationCanceledException)
                {
                    // Shutting down.
                }
                finally
                {
                    StopTerm();
                    elector.Dispose();
                }
            },
            CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Stops the controllers, the campaign and the informers; a second call does nothing.</summary>
    public async Task StopAsync()
    {
        if (_stop is null || Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync();
        if (_election is not null)
        {
            await _election;
        }

        StopTerm();
        Task[] tasks;
        lock (_gate)
        {
            tasks = [.. _termTasks];
        }

        await Task.WhenAll(tasks);
        await _namespaces.DisposeAsync();
        await _budgets.DisposeAsync();
        await _rules.DisposeAsync();
        await _admissionParameters.DisposeAsync();
        await _exporterPolicy.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        foreach (var (_, queue, _) in _controllers)
        {
            queue.Dispose();
        }

        _stop?.Dispose();
    }

    private void StartTerm()
    {
        lock (_gate)
        {
            if (_term is not null)
            {
                return;
            }

            _term = CancellationTokenSource.CreateLinkedTokenSource(_stop!.Token);
            var token = _term.Token;
            Volatile.Write(ref _leading, 1);
            OperatorLog.StartedLeading(_logger, _options.Identity);
            _termTasks = [.. _controllers.Select(c => Task.Run(
                async () =>
                {
                    // Objects that changed while another replica led (or before the first list) are picked up here.
                    await Synced.WaitAsync(token);
                    foreach (var key in c.Keys())
                    {
                        c.Queue.Add(key);
                    }

                    await c.Loop.RunAsync(token);
                },
                CancellationToken.None).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default))];
        }
    }

    private void StopTerm()
    {
        lock (_gate)
        {
            if (_term is null)
            {
                return;
            }

            Volatile.Write(ref _leading, 0);
            // Not disposed here: reconciles of the ending term may still hold its token; the host's own token outlives it.
            _term.Cancel();
            _term = null;
            OperatorLog.StoppedLeading(_logger, _options.Identity);
        }
    }
}
