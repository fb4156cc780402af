namespace Tollgate.Operator.Webhooks;

/// <summary>Source-generated log messages of the pod webhook and its TLS.</summary>
internal static partial class WebhookLog
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Injected the meter into pod {Namespace}/{Pod}")]
    public static partial void Injected(ILogger logger, string @namespace, string pod);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Debug, Message = "Left pod {Namespace}/{Pod} alone: {Outcome}")]
    public static partial void Skipped(ILogger logger, string @namespace, string pod, InjectionOutcome outcome);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Error, Message = "Denied pod {Namespace}/{Pod} after an error of the webhook")]
    public static partial void InjectionFailed(ILogger logger, string @namespace, string pod, Exception exception);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "Rejected a request to the pod webhook that is no AdmissionReview: {Error}")]
    public static partial void BadReview(ILogger logger, string error);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Debug, Message = "Namespace {Namespace} of pod {Pod} is unknown; treated as not metered")]
    public static partial void NamespaceUnknown(ILogger logger, string @namespace, string pod);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Information, Message = "Denied pod {Namespace}/{Pod}: {Violations}")]
    public static partial void Denied(ILogger logger, string @namespace, string pod, string violations);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning, Message = "Rejected a request to the pod webhook larger than {MaxBytes} bytes")]
    public static partial void ReviewTooLarge(ILogger logger, long maxBytes);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "Issued a webhook serving certificate for {DnsName}, valid until {NotAfter:O}")]
    public static partial void CertificateIssued(ILogger logger, string dnsName, DateTimeOffset notAfter);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Information, Message = "Patched caBundle of {Webhooks} webhooks in MutatingWebhookConfiguration {Name}")]
    public static partial void CaBundlePatched(ILogger logger, string name, int webhooks);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Error, Message = "Could not refresh the webhook certificate; retrying in {RetryIn}")]
    public static partial void CertificateRefreshFailed(ILogger logger, TimeSpan retryIn, Exception exception);

    [LoggerMessage(EventId = 2013, Level = LogLevel.Information, Message = "Loaded the webhook serving certificate from Secret {Namespace}/{Secret}, valid until {NotAfter:O}")]
    public static partial void CertificateLoaded(ILogger logger, string @namespace, string secret, DateTimeOffset notAfter);
}
