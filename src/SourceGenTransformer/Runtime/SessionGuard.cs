using System.ComponentModel;
using System.Threading;

namespace SourceGenTransformer.Runtime;

/// <summary>
/// The check that one session is never used by two threads at once (which would interleave two sequences in one KV
/// cache): one interlocked exchange when a call starts, one write when it ends. Generated sessions hold one.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public struct SessionGuard
{
    private int _busy;

    /// <summary>Marks the session busy, or throws <see cref="System.InvalidOperationException"/> if another call holds it.</summary>
    public void Enter()
    {
        if (Interlocked.Exchange(ref _busy, 1) != 0) TransformerErrors.SessionInUse();
    }

    /// <summary>Marks the session free.</summary>
    public void Exit() => Volatile.Write(ref _busy, 0);
}
