using System;
using System.ComponentModel;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.ExceptionServices;
using System.Threading;

namespace SourceGenTransformer.Runtime;

/// <summary>
/// Work that a <see cref="WorkerPool"/> splits into parts: part <c>p</c> of <c>parts</c> runs on worker <c>p</c>
/// (part 0 on the calling thread), or on the calling thread when worker <c>p</c> has not started it by the time part
/// 0 is done. Each part runs exactly once. Generated sessions implement it; each part must touch only its own slice
/// of the outputs (and scratch of its own, chosen by part, not by thread), so the result does not depend on how many
/// parts there are or which thread runs them.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface IParallelWork
{
    /// <summary>Runs part <paramref name="part"/> of <paramref name="parts"/>.</summary>
    void Execute(int part, int parts);
}

/// <summary>
/// A fixed set of threads owned by a model, for splitting kernels (matrix rows, attention heads) across cores.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="Run"/> publishes the work, runs part 0 on the calling thread, then runs itself every part that no
/// worker has claimed yet, and waits for the rest. Nothing is allocated per call: no tasks, no closures, no
/// delegates. Idle workers spin for about <see cref="SpinMicroseconds"/> (the gap between two kernels of one token is
/// far shorter) and then block on a monitor. So a worker whose core the operating system has given to another
/// process neither spins against it nor holds the caller up: its parts go to the caller until it is back. The caller
/// waits only for parts a worker has started.
/// </para>
/// <para>
/// Calls to <see cref="Run"/> from different threads are serialised: sessions of one model may be used from
/// several threads, each call waiting for the pool in turn. With one thread the pool starts no threads and
/// <see cref="Run"/> is a plain call.
/// </para>
/// <para>
/// The threads hold only the pool's inner state, never the pool itself: a pool (and the model that owns it) that is
/// dropped without <see cref="Dispose"/> is collected, and its finalizer stops the threads.
/// </para>
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class WorkerPool : IDisposable
{
    /// <summary>How long an idle thread spins before it blocks.</summary>
    public const int SpinMicroseconds = 200;

    private readonly Core _core;

    /// <summary>Creates a pool of <paramref name="threads"/> threads in all, the caller's included; 0 means one per processor.</summary>
    /// <param name="threads">Threads in all, the caller's included; 0 for one per processor.</param>
    /// <param name="owner">What owns the pool (a model class), named when a disposed pool is used.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is negative or above 256.</exception>
    public WorkerPool(int threads = 0, string? owner = null)
    {
        ModelOptions.CheckThreads(threads, nameof(threads));
        _core = new Core(threads == 0 ? Environment.ProcessorCount : threads, owner ?? nameof(WorkerPool));
    }

    /// <summary>The pool was dropped without <see cref="Dispose"/>: stop its threads, which hold only the core.</summary>
    ~WorkerPool() => _core?.Stop(join: false); // null when the constructor threw

    /// <summary>Threads that run work, the caller's included.</summary>
    public int Threads => _core.Threads;

    /// <summary>The worker threads (not the caller's), for tests that watch them exit.</summary>
    internal Thread[] WorkerThreads => _core.WorkerThreads;

    /// <summary>Whether <see cref="Dispose"/> has run.</summary>
    public bool IsDisposed => Volatile.Read(ref _core.Disposed);

    /// <summary>Throws <see cref="ObjectDisposedException"/>, naming the pool's owner, once the pool is disposed.</summary>
    public void ThrowIfDisposed()
    {
        if (Volatile.Read(ref _core.Disposed)) _core.ThrowDisposed();
    }

    /// <summary>
    /// Runs <c>work.Execute(p, Threads)</c> for every part p, part 0 on this thread, and returns when all are done.
    /// An exception from any part is rethrown here (the first one, if several parts fail).
    /// </summary>
    /// <exception cref="ObjectDisposedException">The pool (its owner) was disposed.</exception>
    public void Run(IParallelWork work)
    {
        _core.Run(work);
        GC.KeepAlive(this); // the finalizer must not stop the threads while a run of this pool is under way
    }

    /// <summary>The rows [start, end) of <paramref name="count"/> that part <paramref name="part"/> of <paramref name="parts"/> takes; boundaries are multiples of <paramref name="align"/> (except the last).</summary>
    public static (int Start, int End) Range(int count, int align, int part, int parts)
    {
        int blocks = (count + align - 1) / align;
        int start = (int)((long)blocks * part / parts) * align;
        int end = (int)((long)blocks * (part + 1) / parts) * align;
        return (Math.Min(start, count), Math.Min(end, count));
    }

    /// <summary>
    /// Hands out the rows of the running job to part <paramref name="part"/>, a range per call, until none are left.
    /// Each part first takes its fixed share of the leading <paramref name="fixedRows"/> rows (as <see cref="Range"/>
    /// splits them), then chunks of <paramref name="chunk"/> rows of the rest, whichever part asks first; so a part on
    /// a core that is slowed (the memory bus shared, the core lent to another process) leaves the tail to the other.
    /// Every boundary is a multiple of <paramref name="align"/> (except <paramref name="count"/>), so each row is
    /// computed whole by one part with the same kernel, and the output does not depend on which part computed it.
    /// Call it only from <see cref="IParallelWork.Execute"/> of work this pool runs, from one loop per run: the tail's
    /// count of claimed rows belongs to the run, and a second loop over other rows in the same run throws.
    /// </summary>
    /// <param name="fixedTaken">This part's own flag: false before its first call.</param>
    /// <param name="fixedRows">Rows split in fixed shares, a multiple of <paramref name="align"/> at most <paramref name="count"/>.</param>
    /// <param name="count">Rows in all.</param>
    /// <param name="align">What share and chunk boundaries are multiples of.</param>
    /// <param name="chunk">Rows per claim of the tail, a positive multiple of <paramref name="align"/>.</param>
    /// <param name="part">The part asking.</param>
    /// <param name="start">First row of the range handed out.</param>
    /// <param name="end">Row after its last.</param>
    /// <returns>Whether a range was handed out; false when the job has no rows left for this part.</returns>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public bool NextRows(ref bool fixedTaken, int fixedRows, int count, int align, int chunk, int part, out int start, out int end) =>
        _core.NextRows(ref fixedTaken, fixedRows, count, align, chunk, part, out start, out end);

    /// <summary>Stops the threads. Work already running finishes first; later runs throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        _core.Stop(join: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>The pool's state, which its threads hold (they must not hold the pool, or it could never be collected).</summary>
    private sealed class Core
    {
        private static readonly long SpinTicks = Math.Max(1, Stopwatch.Frequency * SpinMicroseconds / 1_000_000);

        private readonly string _owner;
        private readonly Thread[] _threads;
        private readonly object _runLock = new();
        private readonly object _gate = new();
        private IParallelWork? _work;
        private int _generation;
        // _claimed[p - 1] is the last generation whose part p someone took: its worker, or the caller, which takes
        // the parts no worker has come for by the time its own part is done.
        private readonly int[] _claimed;
        private int _rowCursor; // tail rows of the current run claimed so far through NextRows; 0 at every Run
        private int _rowCount;  // the row count NextRows claims the tail of in the current run; 0 until its first claim
        private int _pending;
        private int _sleepingWorkers;
        private int _callerSleeping;
        public bool Disposed;
        private ExceptionDispatchInfo? _failure;

        public Core(int threads, string owner)
        {
            Threads = threads;
            _owner = owner;
            _threads = new Thread[Threads - 1];
            _claimed = new int[Threads - 1];
            for (int i = 0; i < _threads.Length; i++)
            {
                int part = i + 1;
                _threads[i] = new Thread(() => WorkerLoop(part)) { IsBackground = true, Name = $"SourceGenTransformer worker {part}" };
                _threads[i].Start();
            }
        }

        public int Threads { get; }

        public Thread[] WorkerThreads => _threads;

        [DoesNotReturn]
        public void ThrowDisposed() =>
            throw new ObjectDisposedException(_owner, $"This {_owner} was disposed: its worker threads are stopped. Load the model again to use it.");

        public void Run(IParallelWork work)
        {
            ArgumentNullException.ThrowIfNull(work);
            if (Volatile.Read(ref Disposed)) ThrowDisposed();
            if (_threads.Length == 0)
            {
                work.Execute(0, 1);
                return;
            }

            lock (_runLock)
            {
                if (Disposed) ThrowDisposed();
                _work = work;
                _failure = null;
                _rowCursor = 0;
                _rowCount = 0;
                Volatile.Write(ref _pending, _threads.Length);
                // A full fence: either a worker about to sleep sees the new generation, or we see it sleeping and wake it.
                int generation = Interlocked.Increment(ref _generation);
                if (Volatile.Read(ref _sleepingWorkers) > 0)
                    lock (_gate) Monitor.PulseAll(_gate);

                try
                {
                    work.Execute(0, Threads);
                    // A worker whose core is busy elsewhere may not have come yet: run its part here rather than wait.
                    for (int p = 1; p < Threads; p++)
                        if (TryClaim(p, generation)) RunPart(work, p);
                }
                finally
                {
                    WaitForWorkers();
                    _work = null;
                }
                _failure?.Throw();
            }
        }

        public bool NextRows(ref bool fixedTaken, int fixedRows, int count, int align, int chunk, int part, out int start, out int end)
        {
            if (!fixedTaken)
            {
                fixedTaken = true;
                // One part alone takes everything at once.
                (start, end) = Threads == 1 ? (0, count) : Range(fixedRows, align, part, Threads);
                if (start < end) return true;
            }
            int tail = count - fixedRows;
            if (Threads > 1)
            {
                // One loop of claims per run: a second loop over other rows would start from the first one's cursor and skip rows.
                int owner = Interlocked.CompareExchange(ref _rowCount, count, 0);
                if (owner != 0 && owner != count)
                    throw new InvalidOperationException($"NextRows claims rows of a job of {count} rows in a run that already claims rows of one of {owner}; a run has one loop of claims.");
            }
            if (Threads == 1 || Volatile.Read(ref _rowCursor) >= tail)
            {
                start = end = count;
                return false;
            }
            int claimed = Interlocked.Add(ref _rowCursor, chunk) - chunk;
            start = fixedRows + Math.Min(claimed, tail);
            end = fixedRows + Math.Min(claimed + chunk, tail);
            return start < end;
        }

        private void WaitForWorkers()
        {
            long deadline = Stopwatch.GetTimestamp() + SpinTicks;
            while (Volatile.Read(ref _pending) != 0)
            {
                if (Stopwatch.GetTimestamp() < deadline)
                {
                    Thread.SpinWait(8);
                    continue;
                }
                lock (_gate)
                {
                    Interlocked.Exchange(ref _callerSleeping, 1);
                    while (Volatile.Read(ref _pending) != 0) Monitor.Wait(_gate);
                    Interlocked.Exchange(ref _callerSleeping, 0);
                }
            }
        }

        private void WorkerLoop(int part)
        {
            int seen = 0;
            while (true)
            {
                long deadline = Stopwatch.GetTimestamp() + SpinTicks;
                while (Volatile.Read(ref _generation) == seen && !Volatile.Read(ref Disposed))
                {
                    if (Stopwatch.GetTimestamp() < deadline)
                    {
                        Thread.SpinWait(8);
                        continue;
                    }
                    lock (_gate)
                    {
                        Interlocked.Increment(ref _sleepingWorkers);
                        while (Volatile.Read(ref _generation) == seen && !Volatile.Read(ref Disposed)) Monitor.Wait(_gate);
                        Interlocked.Decrement(ref _sleepingWorkers);
                    }
                }
                if (Volatile.Read(ref Disposed)) return;
                seen = Volatile.Read(ref _generation);
                // The caller may have taken this part already (and even moved on to later runs): then skip it.
                if (TryClaim(part, seen)) RunPart(_work!, part);
            }
        }

        /// <summary>Takes part <paramref name="part"/> of run <paramref name="generation"/> if no thread has yet; exactly one thread succeeds.</summary>
        private bool TryClaim(int part, int generation) =>
            Interlocked.CompareExchange(ref _claimed[part - 1], generation, generation - 1) == generation - 1;

        /// <summary>Runs a claimed worker part, keeps its exception, and counts it done.</summary>
        private void RunPart(IParallelWork work, int part)
        {
            try
            {
                work.Execute(part, Threads);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(e), null);
            }

            if (Interlocked.Decrement(ref _pending) == 0 && Volatile.Read(ref _callerSleeping) != 0)
                lock (_gate) Monitor.PulseAll(_gate);
        }

        /// <summary>
        /// Stops the threads: from Dispose after the run under way (if any) and joined; from the finalizer without
        /// waiting (no run can be under way, since a run keeps the pool reachable).
        /// </summary>
        public void Stop(bool join)
        {
            if (join)
            {
                lock (_runLock)
                {
                    if (Disposed) return;
                    Volatile.Write(ref Disposed, true);
                }
            }
            else
            {
                Volatile.Write(ref Disposed, true);
            }
            lock (_gate) Monitor.PulseAll(_gate);
            if (!join) return;
            foreach (Thread t in _threads)
                if (t != Thread.CurrentThread) t.Join();
        }
    }
}
